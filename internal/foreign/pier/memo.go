package pier

import "container/list"

// memo is a map that remembers at most max keys; putting a new key beyond
// that forgets the oldest one. pier uses it for everything it learns from
// traffic (chats, messages, threads, session keys), so a long run never
// grows without bound.
type memo[V any] struct {
	max int
	m   map[string]*list.Element
	l   *list.List
}

type memoItem[V any] struct {
	k string
	v V
}

func newMemo[V any](max int) *memo[V] {
	return &memo[V]{max: max, m: map[string]*list.Element{}, l: list.New()}
}

func (m *memo[V]) get(k string) (V, bool) {
	if e, ok := m.m[k]; ok {
		return e.Value.(*memoItem[V]).v, true
	}
	var zero V
	return zero, false
}

func (m *memo[V]) put(k string, v V) {
	if e, ok := m.m[k]; ok {
		e.Value.(*memoItem[V]).v = v
		m.l.MoveToBack(e)
		return
	}
	m.m[k] = m.l.PushBack(&memoItem[V]{k: k, v: v})
	for m.l.Len() > m.max {
		old := m.l.Front()
		m.l.Remove(old)
		delete(m.m, old.Value.(*memoItem[V]).k)
	}
}

func (m *memo[V]) del(k string) {
	if e, ok := m.m[k]; ok {
		m.l.Remove(e)
		delete(m.m, k)
	}
}
