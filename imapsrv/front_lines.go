package imapsrv

import (
	"bytes"
	"errors"
	"io"
)

// lineReader reads a client's lines and literal data. Its buffer grows to
// hold the longest line, up to maxLine.
type lineReader struct {
	buf  []byte
	r    int // start of what is not yet handed on
	scan int // where to look for LF from
}

var errLineTooLong = errors.New("imapsrv: command line too long")

// line returns the next line, LF included. It is valid until the next call.
func (lr *lineReader) line(src io.Reader) ([]byte, error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.scan:], '\n'); i >= 0 {
			end := lr.scan + i + 1
			line := lr.buf[lr.r:end]
			lr.r, lr.scan = end, end
			return line, nil
		}
		lr.scan = len(lr.buf)
		if len(lr.buf)-lr.r >= maxLine {
			return nil, errLineTooLong
		}
		if err := lr.fill(src); err != nil {
			return nil, err
		}
	}
}

// fill reads more into the buffer, making room first.
func (lr *lineReader) fill(src io.Reader) error {
	if lr.r == len(lr.buf) && cap(lr.buf) > minBuffer {
		// A long line is over: give the memory back.
		lr.buf, lr.r, lr.scan = make([]byte, 0, minBuffer), 0, 0
	}
	if lr.r > 0 {
		n := copy(lr.buf, lr.buf[lr.r:])
		lr.buf, lr.scan, lr.r = lr.buf[:n], lr.scan-lr.r, 0
	}
	if len(lr.buf) == cap(lr.buf) {
		grown := make([]byte, len(lr.buf), min(2*cap(lr.buf), maxLine+minBuffer))
		copy(grown, lr.buf)
		lr.buf = grown
	}
	n, err := src.Read(lr.buf[len(lr.buf):cap(lr.buf)])
	lr.buf = lr.buf[:len(lr.buf)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// read reads literal data: what is buffered first, then straight from src.
func (lr *lineReader) read(src io.Reader, p []byte) (int, error) {
	if lr.r < len(lr.buf) {
		n := copy(p, lr.buf[lr.r:])
		lr.r += n
		lr.scan = max(lr.scan, lr.r)
		return n, nil
	}
	lr.reset()
	return src.Read(p)
}

// discard drops n bytes of literal data.
func (lr *lineReader) discard(src io.Reader, n int64) error {
	var scratch [4096]byte
	for n > 0 {
		m, err := lr.read(src, scratch[:min(n, int64(len(scratch)))])
		n -= int64(m)
		if m == 0 && err != nil {
			return err
		}
	}
	return nil
}

// reset forgets what is buffered.
func (lr *lineReader) reset() {
	lr.buf, lr.r, lr.scan = lr.buf[:0], 0, 0
}
