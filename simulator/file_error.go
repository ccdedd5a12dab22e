package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// FileError is a problem in a file the simulator reads at start: a
// descriptor file (LoadDescriptorFile) or a seed file (LoadSeedFile). File
// names the file, Field the dotted path of the value at fault ("" for the
// file as a whole), so the message points at what to fix.
type FileError struct {
	// File is the file's path, or "seed" for a Seed built in Go.
	File string
	// Field is the dotted path of the value at fault, such as
	// "max_message_length" or "scripts[1].op"; "" for the whole file.
	Field string
	// Message says what is wrong.
	Message string
}

func (e *FileError) Error() string {
	if e.Field == "" {
		return e.File + ": " + e.Message
	}
	return e.File + ": " + e.Field + ": " + e.Message
}

// maxConfigFile caps a descriptor or seed file: far more than any needs,
// and a mistake (a capture or a log given as --seed) is refused at once
// instead of read whole into memory.
const maxConfigFile = 4 << 20

// readConfigFile reads a descriptor or seed file, at most maxConfigFile
// bytes.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &FileError{File: path, Message: fmt.Sprintf("cannot read it: %v", errors.Unwrap(err))}
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, &FileError{File: path, Message: fmt.Sprintf("cannot read it: %v", err)}
	}
	if len(b) > maxConfigFile {
		return nil, &FileError{File: path, Message: fmt.Sprintf("over %d bytes; is this the right file?", maxConfigFile)}
	}
	return b, nil
}

// jsonSyntaxError words a JSON syntax error with its line and column.
func jsonSyntaxError(file string, data []byte, err error) *FileError {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read, the offending one included.
		line, col := lineCol(data, max(se.Offset-1, 0))
		return &FileError{File: file, Message: fmt.Sprintf("not valid JSON at line %d, column %d: %v", line, col, se)}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &FileError{File: file, Message: "not valid JSON: the file ends inside a value"}
	}
	return &FileError{File: file, Message: "not valid JSON: " + err.Error()}
}

// lineCol turns a byte offset into a 1-based line and column.
func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// fileErrorAt turns an error of the control API's strict decoder or of a
// Server method (a *RequestError naming a field) into a FileError under
// prefix, the path of the item in the file.
func fileErrorAt(file, prefix string, err error) *FileError {
	var re *RequestError
	if !errors.As(err, &re) {
		return &FileError{File: file, Field: prefix, Message: err.Error()}
	}
	field := prefix
	switch {
	case re.Field == "":
	case prefix == "":
		field = re.Field
	case strings.HasPrefix(re.Message, "unknown field"):
		// The decoder names an unknown member without its path, which
		// may be nested; the item's path is the best place to point at,
		// and the message names the member.
	default:
		field += "." + re.Field
	}
	msg := strings.TrimPrefix(re.Message, "body: ")
	if msg == "" {
		msg = err.Error()
	}
	return &FileError{File: file, Field: field, Message: msg}
}
