package adapter

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/relaykit/relaykit/contract"
)

// MinDecoratedLimit is the smallest limit at which Split adds "(i/N)"
// indicators and keeps code fences balanced. Below it the decorations would
// crowd out the text, so chunks are plain slices of the content.
const MinDecoratedLimit = 32

// Decorations Split adds to a chunk. fenceClose ends a chunk cut inside a
// fenced code block; the next chunk starts with "```<lang>\n".
const (
	fenceMark  = "```"
	fenceClose = "\n```"
)

// Splitter cuts message content into chunks that fit a platform's message
// length limit, counted in the platform's unit.
//
// The zero value splits at 4096 code points, which is what a descriptor
// with max_message_length 0 means.
//
// # Rules
//
// Content that fits is returned whole, undecorated. Longer content is cut
// into chunks with these guarantees and preferences:
//
//   - Every chunk, decorations included, is at most Limit long in Unit.
//   - A cut never falls inside a grapheme cluster (so never inside a
//     surrogate pair, a ZWJ emoji sequence, a flag, a base letter with its
//     combining marks, or a CRLF), unless one cluster alone is longer than
//     the room in a chunk; such a cluster is cut between code points.
//   - Cuts prefer, in order: a paragraph break (before a blank line) that
//     leaves the chunk at least half full, a line break that does, a space
//     that leaves it a quarter full, any line break, any grapheme boundary.
//     Whitespace at a cut stays with the following chunk, which platforms
//     trim on display; inside a code block a line break stays with the
//     chunk it ends, so the reopened block starts with a code line, and a
//     cut right after a closing fence counts as a line break.
//   - When Limit >= MinDecoratedLimit, fenced code blocks stay balanced:
//     a chunk that ends inside a ``` block gets "\n```" appended, and the
//     next chunk starts with "```<lang>\n" (the tag dropped when it would
//     leave less than half the chunk for text). Each chunk then ends with
//     the indicator " (i/N)", whose room is reserved in every chunk. This is
//     the reference gateway's format and position.
//   - A fence is a line whose trimmed text starts with "```"; the first
//     word after the backticks is the language tag. A line counts once its
//     newline has been seen.
//
// Join inverts Split exactly: Join(Split(s)) == s for every string s.
type Splitter struct {
	// Limit is the longest chunk in Unit; zero or negative means 4096.
	Limit int
	// Unit is contract.LenUnitChars (code points, the default for any
	// unknown value) or contract.LenUnitUTF16 (UTF-16 code units: a
	// character outside the Basic Multilingual Plane counts 2).
	Unit string
}

// Split cuts content into chunks of at most limit in unit; see Splitter.
func Split(content string, limit int, unit string) []string {
	return Splitter{Limit: limit, Unit: unit}.Split(content)
}

// Join re-assembles chunks produced by Split with the same limit.
func Join(chunks []string, limit int) string {
	return Splitter{Limit: limit}.Join(chunks)
}

// Length returns the length of s in unit: code points for "chars" (and any
// unknown unit), UTF-16 code units for "utf16". An invalid UTF-8 byte counts
// as one unit, as the U+FFFD it becomes on the wire.
func Length(s, unit string) int {
	if unit != contract.LenUnitUTF16 {
		return utf8.RuneCountInString(s)
	}
	n := 0
	for _, r := range s {
		n += runeUnits(r, true)
	}
	return n
}

func runeUnits(r rune, utf16 bool) int {
	if utf16 && r > 0xFFFF {
		return 2
	}
	return 1
}

func (s Splitter) limit() int {
	if s.Limit <= 0 {
		return contract.DefaultMaxMessageLength
	}
	return s.Limit
}

func (s Splitter) utf16() bool { return s.Unit == contract.LenUnitUTF16 }

func (s Splitter) measure(str string) int { return Length(str, s.Unit) }

// fits reports whether str is at most n units long, without measuring
// past n.
func (s Splitter) fits(str string, n int) bool {
	u16 := s.utf16()
	for _, r := range str {
		n -= runeUnits(r, u16)
		if n < 0 {
			return false
		}
	}
	return true
}

// Split cuts content into chunks; an empty content gives no chunk.
func (s Splitter) Split(content string) []string {
	if content == "" {
		return nil
	}
	lim := s.limit()
	if s.fits(content, lim) {
		return []string{content}
	}
	if lim < MinDecoratedLimit {
		var out []string
		for rest := content; rest != ""; {
			p := s.cut(rest, lim, fenceState{})
			out = append(out, rest[:p])
			rest = rest[p:]
		}
		return out
	}
	// The indicator's room depends on how many digits N has, and N on the
	// room left: start with one digit and widen until the count fits.
	for d := 1; ; d++ {
		chunks := s.decorated(content, lim, 4+2*d)
		if len(strconv.Itoa(len(chunks))) > d {
			continue
		}
		for i := range chunks {
			chunks[i] += indicator(i, len(chunks))
		}
		return chunks
	}
}

func indicator(i, n int) string {
	return " (" + strconv.Itoa(i+1) + "/" + strconv.Itoa(n) + ")"
}

// decorated cuts content leaving reserve units in each chunk for the
// indicator, closing and reopening fences across cuts.
func (s Splitter) decorated(content string, lim, reserve int) []string {
	var out []string
	var sc fenceScanner
	for pos := 0; pos < len(content); {
		rest := content[pos:]
		st := sc.at(content, pos)
		prefix := ""
		if st.inside {
			prefix = s.reopen(st.lang, lim, reserve)
		}
		room := lim - reserve - s.measure(prefix)
		if s.fits(rest, room) {
			out = append(out, prefix+rest)
			break
		}
		p := s.cut(rest, room-len(fenceClose), st)
		chunk := prefix + rest[:p]
		pos += p
		if sc.at(content, pos).inside {
			chunk += fenceClose
		}
		out = append(out, chunk)
	}
	return out
}

// reopen returns the line that reopens a fence tagged lang at the start of
// a chunk, dropping the tag when it would leave less than half the chunk
// for text.
func (s Splitter) reopen(lang string, lim, reserve int) string {
	line := fenceMark + lang + "\n"
	if lang != "" && lim-reserve-s.measure(line)-len(fenceClose) < lim/2 {
		return fenceMark + "\n"
	}
	return line
}

// Join re-assembles chunks produced by Split with the same Limit. The rule,
// which a checker can apply to chunks it received:
//
//  1. No chunk gives "", one chunk is the content itself, and below
//     MinDecoratedLimit the chunks are simply concatenated.
//  2. Otherwise, for the i-th of N chunks: remove the trailing " (i/N)".
//  3. Keep the fence state of the text re-assembled so far (a line whose
//     trimmed text starts with "```" toggles it; a line counts once it
//     ends with "\n"). If the state is inside a fence, remove the chunk's
//     first line, which is the reopening "```<lang>".
//  4. For every chunk but the last: if it ends with "\n```" and the state
//     of the text so far plus the chunk without those four characters is
//     inside a fence, remove them (Split appended them).
//  5. Append what is left.
//
// Join does not validate: chunks that Split did not produce give an
// unspecified result.
func (s Splitter) Join(chunks []string) string {
	return strings.Join(s.bodies(chunks), "")
}

// bodies strips the decorations from each chunk (the Join rule), leaving
// the slices of the original content.
func (s Splitter) bodies(chunks []string) []string {
	if len(chunks) <= 1 || s.limit() < MinDecoratedLimit {
		return chunks
	}
	out := make([]string, 0, len(chunks))
	var b strings.Builder
	var sc fenceScanner
	for i, c := range chunks {
		c = strings.TrimSuffix(c, indicator(i, len(chunks)))
		if sc.at(b.String(), b.Len()).inside {
			if nl := strings.IndexByte(c, '\n'); nl >= 0 && strings.HasPrefix(c, fenceMark) {
				c = c[nl+1:]
			}
		}
		if i < len(chunks)-1 && strings.HasSuffix(c, fenceClose) {
			body := c[:len(c)-len(fenceClose)]
			probe := b.String() + body
			peek := sc // a copy: the probe extends the text sc has scanned
			if peek.at(probe, len(probe)).inside {
				c = body
			}
		}
		b.WriteString(c)
		out = append(out, c)
	}
	return out
}

// fenceState is whether a position is inside a fenced code block, and the
// language tag of the block.
type fenceState struct {
	inside bool
	lang   string
}

// step applies one complete line (without its newline) to the state.
func (f fenceState) step(line string) fenceState {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, fenceMark) {
		return f
	}
	if f.inside {
		return fenceState{}
	}
	lang := ""
	if fields := strings.Fields(t[len(fenceMark):]); len(fields) > 0 {
		lang = fields[0]
	}
	return fenceState{inside: true, lang: lang}
}

// fenceScanner computes the fence state at increasing positions of one
// text in linear total time. Only complete lines count.
type fenceScanner struct {
	done  int // bytes of complete lines already applied
	state fenceState
}

// at returns the state at pos of text; pos must not decrease between calls
// on the same text.
func (sc *fenceScanner) at(text string, pos int) fenceState {
	for {
		nl := strings.IndexByte(text[sc.done:pos], '\n')
		if nl < 0 {
			return sc.state
		}
		sc.state = sc.state.step(text[sc.done : sc.done+nl])
		sc.done += nl + 1
	}
}

// Boundary classes a cut may fall on, best first.
const (
	classParagraph = iota
	classLine
	classWord
	classGrapheme
	numClasses
)

// cut returns how many bytes of text go into the next chunk: at least one
// code point, at most budget units (unless a single code point is longer),
// on the best boundary class that leaves the chunk full enough. st is the
// fence state at text's start; it steers cuts away from fence lines.
func (s Splitter) cut(text string, budget int, st fenceState) int {
	if budget < 1 {
		budget = 1
	}
	u16 := s.utf16()
	var (
		best      [numClasses]int // latest candidate per class; 0 = none
		bestUnits [numClasses]int
		units     int  // units of text[:off]
		lineStart int  // offset where the current line starts
		breakRun  = -1 // offset where the current run of line breaks began
		runUnits  int  // units of text[:breakRun]
		runOK     bool // a cut before the run is allowed
		spaceRun  = -1 // offset where the current run of spaces began
		fit       int  // largest grapheme boundary that fits
		prevFit   int  // the boundary before fit
		state     = -1
	)
	add := func(class, off int) {
		if off > 0 && !fenceish(text[lineStart:off]) {
			best[class], bestUnits[class] = off, units
		}
	}
	for off := 0; off < len(text); {
		cluster, _, _, newState := uniseg.FirstGraphemeClusterInString(text[off:], state)
		state = newState
		cu := 0
		for _, r := range cluster {
			cu += runeUnits(r, u16)
		}
		isBreak := cluster == "\n" || cluster == "\r\n"
		r, _ := utf8.DecodeRuneInString(cluster)
		isSpace := !isBreak && unicode.IsSpace(r)

		if off > 0 {
			add(classGrapheme, off)
		}
		switch {
		case isBreak && st.inside:
			// Inside a code block a cut goes after the line break (below),
			// so the next chunk's reopened block starts with a code line.
			breakRun = -1
		case isBreak:
			if breakRun < 0 {
				breakRun, runUnits = off, units
				add(classLine, off)
				runOK = best[classLine] == off
			} else if runOK && best[classParagraph] != breakRun {
				// Second break of a run: the run starts a paragraph break.
				// Its line is the one the run ended.
				best[classParagraph], bestUnits[classParagraph] = breakRun, runUnits
			}
		default:
			breakRun = -1
		}
		if isSpace {
			if spaceRun < 0 {
				spaceRun = off
				add(classWord, off)
			}
		} else {
			spaceRun = -1
		}

		if units+cu > budget {
			break
		}
		units += cu
		prevFit, fit = fit, off+len(cluster)
		off += len(cluster)
		if isBreak {
			line := text[lineStart : off-len(cluster)]
			next := st.step(line)
			lineStart = off
			if st.inside {
				// After a code line, or just after the closing fence: both
				// are clean places to cut.
				add(classLine, off)
			}
			st = next
		}
	}
	switch {
	case best[classParagraph] > 0 && 2*bestUnits[classParagraph] >= budget:
		return best[classParagraph]
	case best[classLine] > 0 && 2*bestUnits[classLine] >= budget:
		return best[classLine]
	case best[classWord] > 0 && 4*bestUnits[classWord] >= budget:
		return best[classWord]
	case best[classLine] > 0:
		// A short chunk beats cutting a line in the middle.
		return best[classLine]
	case best[classGrapheme] > 0:
		return best[classGrapheme]
	}
	if fit > 0 {
		// Only boundaries inside a fence line fit. Cut at the last one,
		// but never right after "\n```": Join would read those four
		// characters as an added closing fence.
		if strings.HasSuffix(text[:fit], fenceClose) && prevFit > 0 {
			return prevFit
		}
		return fit
	}
	// The first grapheme cluster alone is longer than the budget: cut it
	// between code points, keeping at least one.
	n := 0
	for i, r := range text {
		n += runeUnits(r, u16)
		if n > budget {
			if i == 0 {
				return utf8.RuneLen(r)
			}
			return i
		}
	}
	return len(text)
}

// fenceish reports whether a (possibly partial) line is, or may become, a
// fence line: cutting there would split the fence marker from its line.
func fenceish(line string) bool {
	t := strings.TrimLeft(line, " \t")
	if strings.HasPrefix(t, fenceMark) {
		return true
	}
	return t != "" && strings.Trim(t, "`") == ""
}

// cutFirst cuts the first message off text for a stream, whose chunks
// carry no indicators: it returns the first chunk (with "\n```" appended
// when cut inside a fence), the rest of text, and the line that reopens
// the fence in front of the rest ("" when not inside one). ok is false
// when text fits whole.
func (s Splitter) cutFirst(text string) (first, rest, reopen string, ok bool) {
	lim := s.limit()
	if s.fits(text, lim) {
		return text, "", "", false
	}
	if lim < MinDecoratedLimit {
		p := s.cut(text, lim, fenceState{})
		return text[:p], text[p:], "", true
	}
	p := s.cut(text, lim-len(fenceClose), fenceState{})
	var sc fenceScanner
	st := sc.at(text, p)
	first, rest = text[:p], text[p:]
	if st.inside {
		first += fenceClose
		reopen = s.reopen(st.lang, lim, 0)
	}
	return first, rest, reopen, true
}
