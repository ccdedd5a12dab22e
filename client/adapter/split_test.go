package adapter

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/relaykit/relaykit/contract"
)

const (
	family  = "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466" // 11 UTF-16 units, 7 code points
	flagFR  = "\U0001F1EB\U0001F1F7"
	grin    = "\U0001F600"
	eAcute  = "e\u0301"
	zalgo   = "a\u0300\u0301\u0302\u0303\u0304"
	cjk     = "\u6f22\u5b57"
	thumbUp = "\U0001F44D\U0001F3FD" // with a skin tone modifier
)

// checkSplit asserts the invariants every Split result must meet and
// returns the chunks.
func checkSplit(t *testing.T, s Splitter, content string) []string {
	t.Helper()
	chunks := s.Split(content)
	lim := s.limit()
	for i, c := range chunks {
		if n := Length(c, s.Unit); n > lim {
			t.Fatalf("chunk %d is %d %s long, over the limit %d: %q", i, n, s.Unit, lim, c)
		}
		if c == "" {
			t.Fatalf("chunk %d is empty", i)
		}
	}
	if got := s.Join(chunks); got != content {
		t.Fatalf("Join(Split(x)) != x\n x: %q\ngot: %q\nchunks: %q", content, got, chunks)
	}
	checkCuts(t, s, content, chunks)
	return chunks
}

// checkCuts asserts that every cut between chunk bodies falls on a grapheme
// cluster boundary, unless that cluster alone cannot fit in a chunk.
func checkCuts(t *testing.T, s Splitter, content string, chunks []string) {
	t.Helper()
	bounds := make([]bool, len(content)+1) // grapheme boundaries by byte
	bounds[0] = true
	state, off := -1, 0
	for rest := content; rest != ""; {
		var cl string
		cl, rest, _, state = uniseg.FirstGraphemeClusterInString(rest, state)
		off += len(cl)
		bounds[off] = true
	}
	// The smallest room a chunk body can have: half the limit when a fence
	// tag is kept, else the limit less the indicator and bare fences.
	room := s.limit()
	if room >= MinDecoratedLimit {
		reserve := 4 + 2*len(fmt.Sprint(len(chunks)))
		room = min(room/2, room-reserve-8)
	}
	pos := 0
	for i, b := range s.bodies(chunks) {
		if i > 0 && !bounds[pos] {
			if !utf8.RuneStart(content[pos]) {
				t.Fatalf("cut at byte %d splits a code point", pos)
			}
			start, end := pos, pos
			for !bounds[start] {
				start--
			}
			for !bounds[end] {
				end++
			}
			if cl := content[start:end]; Length(cl, s.Unit) <= room {
				t.Fatalf("cut at byte %d splits the cluster %q, which would fit in %d", pos, cl, room)
			}
		}
		pos += len(b)
	}
}

func TestSplitShortContentIsOneUndecoratedChunk(t *testing.T) {
	for _, c := range []string{"hi", strings.Repeat("x", 4096), "```go\nfmt.Println()"} {
		got := Split(c, 0, contract.LenUnitChars)
		if len(got) != 1 || got[0] != c {
			t.Fatalf("Split(%.20q) = %q, want it whole", c, got)
		}
	}
	if got := Split("", 10, ""); got != nil {
		t.Fatalf("Split(\"\") = %q, want no chunk", got)
	}
}

func TestSplitDefaultLimitIs4096(t *testing.T) {
	c := strings.Repeat("word ", 1000) // 5000 code points
	for _, lim := range []int{0, -5} {
		chunks := checkSplit(t, Splitter{Limit: lim}, c)
		if len(chunks) != 2 {
			t.Fatalf("limit %d: got %d chunks, want 2", lim, len(chunks))
		}
		if n := Length(chunks[0], ""); n > 4096 || n < 2048 {
			t.Fatalf("limit %d: first chunk is %d code points", lim, n)
		}
	}
}

func TestSplitCountsUTF16Units(t *testing.T) {
	c := strings.Repeat(grin, 3000) // 3000 code points, 6000 UTF-16 units
	if got := Split(c, 4096, contract.LenUnitChars); len(got) != 1 {
		t.Fatalf("chars: got %d chunks, want 1", len(got))
	}
	chunks := checkSplit(t, Splitter{Limit: 4096, Unit: contract.LenUnitUTF16}, c)
	if len(chunks) != 2 {
		t.Fatalf("utf16: got %d chunks, want 2", len(chunks))
	}
	if Length(grin, contract.LenUnitUTF16) != 2 || Length(grin, contract.LenUnitChars) != 1 {
		t.Fatal("an astral character must count 2 in utf16 and 1 in chars")
	}
	if Length(family, contract.LenUnitUTF16) != 11 || Length(family, "bogus") != 7 {
		t.Fatal("unknown units count code points")
	}
}

func TestSplitIndicators(t *testing.T) {
	c := strings.Repeat("abcdefghi ", 30) // 300 chars
	chunks := checkSplit(t, Splitter{Limit: 100}, c)
	if len(chunks) < 4 {
		t.Fatalf("got %d chunks", len(chunks))
	}
	for i, ch := range chunks {
		want := fmt.Sprintf(" (%d/%d)", i+1, len(chunks))
		if !strings.HasSuffix(ch, want) {
			t.Fatalf("chunk %d = %q, want suffix %q", i, ch, want)
		}
	}
}

func TestSplitIndicatorRoomWidensWithTwoDigitCounts(t *testing.T) {
	// 40-unit chunks of a 1000-char text need more than nine chunks, so
	// "(10/NN)" must fit too.
	c := strings.Repeat("x", 1000)
	chunks := checkSplit(t, Splitter{Limit: 40}, c)
	if len(chunks) < 10 {
		t.Fatalf("got %d chunks, want at least 10", len(chunks))
	}
	last := chunks[len(chunks)-1]
	if !strings.HasSuffix(last, fmt.Sprintf(" (%d/%d)", len(chunks), len(chunks))) {
		t.Fatalf("last chunk %q lacks its indicator", last)
	}
}

func TestSplitPrefersParagraphThenLineThenWord(t *testing.T) {
	para := strings.Repeat("a", 60) + "\n\n" + strings.Repeat("b", 20) + "\n" + strings.Repeat("c", 10) + " " + strings.Repeat("d", 100)
	chunks := checkSplit(t, Splitter{Limit: 100}, para)
	if body := (Splitter{Limit: 100}).bodies(chunks)[0]; body != strings.Repeat("a", 60) {
		t.Fatalf("paragraph: first body %q", body)
	}

	line := strings.Repeat("a", 60) + "\n" + strings.Repeat("b", 20) + " " + strings.Repeat("c", 100)
	chunks = checkSplit(t, Splitter{Limit: 100}, line)
	if body := (Splitter{Limit: 100}).bodies(chunks)[0]; body != strings.Repeat("a", 60) {
		t.Fatalf("line: first body %q", body)
	}

	// A paragraph break too early to fill half a chunk loses to a line break.
	early := strings.Repeat("a", 10) + "\n\n" + strings.Repeat("b", 60) + "\n" + strings.Repeat("c", 100)
	chunks = checkSplit(t, Splitter{Limit: 100}, early)
	if body := (Splitter{Limit: 100}).bodies(chunks)[0]; body != early[:72] {
		t.Fatalf("early paragraph: first body %q", body)
	}

	word := "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau"
	chunks = checkSplit(t, Splitter{Limit: 40}, word)
	for i, b := range (Splitter{Limit: 40}).bodies(chunks) {
		if i > 0 && !strings.HasPrefix(b, " ") {
			t.Fatalf("word: body %d = %q does not start at a space", i, b)
		}
	}
}

func TestSplitHardCutsLongWords(t *testing.T) {
	c := strings.Repeat("y", 250)
	chunks := checkSplit(t, Splitter{Limit: 100}, c)
	if len(chunks) != 3 {
		t.Fatalf("got %d chunks, want 3: %q", len(chunks), chunks)
	}
}

func TestSplitKeepsFencesBalanced(t *testing.T) {
	var code strings.Builder
	code.WriteString("Here is the program:\n\n```go\n")
	for i := range 40 {
		fmt.Fprintf(&code, "fmt.Println(%d)\n", i)
	}
	code.WriteString("```\n\nThat was it.")
	s := Splitter{Limit: 200}
	chunks := checkSplit(t, s, code.String())
	if len(chunks) < 3 {
		t.Fatalf("got %d chunks", len(chunks))
	}
	for i, ch := range chunks {
		ch = strings.TrimSuffix(ch, indicator(i, len(chunks)))
		if i > 0 && i < len(chunks)-1 && !strings.HasPrefix(ch, "```go\n") {
			t.Fatalf("chunk %d does not reopen the go fence: %q", i, ch)
		}
		if i < len(chunks)-1 && strings.Count(ch, "```")%2 != 0 {
			t.Fatalf("chunk %d has unbalanced fences: %q", i, ch)
		}
		if i < len(chunks)-2 && !strings.HasSuffix(ch, "\n```") {
			t.Fatalf("chunk %d does not close its fence: %q", i, ch)
		}
	}
}

func TestSplitDropsLongFenceTagsWhenReopening(t *testing.T) {
	tag := strings.Repeat("t", 30)
	c := "```" + tag + "\n" + strings.Repeat("line\n", 40) + "```"
	s := Splitter{Limit: 64}
	chunks := checkSplit(t, s, c)
	if !strings.HasPrefix(chunks[1], "```\n") {
		t.Fatalf("chunk 1 = %q, want a bare reopening fence", chunks[1])
	}
}

func TestSplitCutsAfterClosingFence(t *testing.T) {
	c := "```\n" + strings.Repeat("c", 50) + "\n```\n" + strings.Repeat("p", 60)
	s := Splitter{Limit: 100}
	chunks := checkSplit(t, s, c)
	if b := s.bodies(chunks)[0]; !strings.HasSuffix(b, "```\n") {
		t.Fatalf("first body %q, want it to end right after the closing fence", b)
	}
}

func TestSplitNeverCutsGraphemeClusters(t *testing.T) {
	for _, unit := range []string{contract.LenUnitChars, contract.LenUnitUTF16} {
		for _, g := range []string{family, flagFR, grin, eAcute, zalgo, cjk, thumbUp, "\r\n"} {
			c := strings.Repeat(g, 50)
			for _, lim := range []int{11, 12, 16, 33, 50, 64} {
				if Length(g, unit) > lim {
					continue
				}
				checkSplit(t, Splitter{Limit: lim, Unit: unit}, c)
			}
		}
	}
}

func TestSplitNeverSplitsSurrogatePairs(t *testing.T) {
	c := strings.Repeat(grin, 20)
	chunks := checkSplit(t, Splitter{Limit: 3, Unit: contract.LenUnitUTF16}, c)
	if len(chunks) != 20 {
		t.Fatalf("got %d chunks, want one astral character each", len(chunks))
	}
}

func TestSplitCutsAClusterLongerThanTheLimitBetweenCodePoints(t *testing.T) {
	s := Splitter{Limit: 4, Unit: contract.LenUnitUTF16}
	chunks := checkSplit(t, s, family)
	for _, ch := range chunks {
		if !utf8.ValidString(ch) {
			t.Fatalf("chunk %q is not valid UTF-8", ch)
		}
	}
}

func TestSplitKeepsCRLFTogether(t *testing.T) {
	c := strings.Repeat("ab\r\n", 40)
	s := Splitter{Limit: 7}
	for _, b := range s.bodies(checkSplit(t, s, c)) {
		if strings.HasSuffix(b, "\r") {
			t.Fatalf("body %q ends between CR and LF", b)
		}
	}
}

func TestJoinRule(t *testing.T) {
	if Join(nil, 0) != "" || Join([]string{"x"}, 0) != "x" {
		t.Fatal("trivial joins")
	}
	if got := Join([]string{"ab", "cd"}, 10); got != "abcd" {
		t.Fatalf("plain join = %q", got)
	}
	got := Join([]string{"```py\nx = 1\n```" + " (1/2)", "```py\n\ny = 2\n```" + " (2/2)"}, 100)
	if got != "```py\nx = 1\ny = 2\n```" { // the cut newline opens chunk 2
		t.Fatalf("decorated join = %q", got)
	}
	// A chunk cut right after a closing fence carries no decoration.
	got = Join([]string{"a\n```\nb\n```\n" + " (1/2)", "c (2/2)"}, 100)
	if got != "a\n```\nb\n```\nc" {
		t.Fatalf("literal fence join = %q", got)
	}
}

// pieces are the building blocks of the random content: everything the
// splitter has to treat with care.
var pieces = []string{
	"a", "word", "Lorem", "ipsum", " ", "  ", "\t", "\n", "\n\n", "\r\n", "\r",
	"```", "```go\n", "```\n", "\n```\n", " ```py\n", "`", "``", "\n```",
	grin, family, flagFR, eAcute, zalgo, cjk, thumbUp, "\u200D", "\u0301",
	"\U0001F1EB", "é", "\uFEFF", "\u00a0", "x\xffy", "(1/2)", " (1/2)",
}

func randomContent(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		if r.IntN(4) == 0 {
			b.WriteString(strings.Repeat("z", r.IntN(30)))
		}
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

func randomSplitter(r *rand.Rand) Splitter {
	limits := []int{2, 3, 5, 8, 13, 31, 32, 33, 40, 64, 100, 257, 4096, 0}
	unit := contract.LenUnitChars
	if r.IntN(2) == 0 {
		unit = contract.LenUnitUTF16
	}
	return Splitter{Limit: limits[r.IntN(len(limits))], Unit: unit}
}

func TestSplitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 1500 {
		s := randomSplitter(r)
		c := randomContent(r, r.IntN(300))
		t.Run("", func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("case %d: %+v content %q", i, s, c)
				}
			}()
			checkSplit(t, s, c)
		})
		if t.Failed() {
			return
		}
	}
}

func TestSplitPropertiesLongContent(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	for range 6 {
		s := Splitter{Limit: []int{0, 2000, 4096}[r.IntN(3)], Unit: contract.LenUnitUTF16}
		checkSplit(t, s, randomContent(r, 20000))
	}
}

// markdownContent produces well-formed markdown: fences on their own
// lines, short code lines, prose paragraphs.
func markdownContent(r *rand.Rand) string {
	var b strings.Builder
	for range 3 + r.IntN(12) {
		if r.IntN(3) == 0 {
			b.WriteString("```" + []string{"", "go", "python", "sh"}[r.IntN(4)] + "\n")
			for range 1 + r.IntN(30) {
				b.WriteString(strings.Repeat("x", r.IntN(30)) + " " + grin + family + "\n")
			}
			b.WriteString("```\n\n")
			continue
		}
		for range 1 + r.IntN(40) {
			b.WriteString([]string{"word", "other", eAcute, cjk, flagFR}[r.IntN(5)] + " ")
		}
		b.WriteString("\n\n")
	}
	return b.String()
}

func TestSplitFencesBalancedOnWellFormedMarkdown(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 250 {
		s := Splitter{Limit: 80 + r.IntN(400), Unit: []string{"chars", "utf16"}[r.IntN(2)]}
		c := markdownContent(r)
		chunks := checkSplit(t, s, c)
		for i, ch := range chunks[:len(chunks)-1] {
			body := strings.TrimSuffix(ch, indicator(i, len(chunks)))
			var st fenceState
			for _, line := range strings.Split(body, "\n") {
				st = st.step(line)
			}
			if st.inside {
				t.Fatalf("limit %d: chunk %d of %d ends inside a fence: %q", s.Limit, i, len(chunks), ch)
			}
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("hello world", 5, false)
	f.Add("```go\nfunc main() {}\n```\n"+family+grin, 33, true)
	f.Add(strings.Repeat(flagFR+eAcute+"\r\n", 30), 40, true)
	f.Fuzz(func(t *testing.T, content string, limit int, utf16 bool) {
		if limit > 5000 || limit < -1 {
			limit %= 5000
		}
		s := Splitter{Limit: limit, Unit: contract.LenUnitChars}
		if utf16 {
			s.Unit = contract.LenUnitUTF16
			if limit == 1 {
				s.Limit = 2 // one astral character needs two units
			}
		}
		checkSplit(t, s, content)
	})
}
