package adapters

import (
	"context"
	"io"
	"os"
)

// Spooled is content written once to a temporary file, to be sent with a length, read again or
// compared, without holding it in memory. Close removes it.
type Spooled struct {
	f    *os.File
	size int64
}

// Spool writes what write produces to a temporary file in dir ("" for the system's temporary
// directory). The file is unlinked at once where the system allows it, so not even a crash
// leaves it behind. Writing stops with ctx's error once ctx is done.
func Spool(ctx context.Context, dir string, write func(io.Writer) error) (*Spooled, error) {
	f, err := os.CreateTemp(dir, ".amtsbote-spool-*.tmp")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name()) // Unix: the open file stays readable; elsewhere Close removes it
	s := &Spooled{f: f}
	cw := &countingWriter{w: f}
	if err := write(ctxWriter{ctx, cw}); err != nil {
		s.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	s.size = cw.n
	return s, nil
}

// SpoolReader spools what r holds (e.g. a response body).
func SpoolReader(ctx context.Context, dir string, r io.Reader) (*Spooled, error) {
	return Spool(ctx, dir, func(w io.Writer) error { _, err := io.Copy(w, r); return err })
}

// Size is the length of the content.
func (s *Spooled) Size() int64 { return s.size }

// ReadAt reads the content at off.
func (s *Spooled) ReadAt(b []byte, off int64) (int, error) { return s.f.ReadAt(b, off) }

// Reader reads the content from the start; each call returns a new, independent reader.
func (s *Spooled) Reader() io.Reader { return io.NewSectionReader(s.f, 0, s.size) }

// Body is Reader as a request body (http.Request.GetBody).
func (s *Spooled) Body() (io.ReadCloser, error) { return io.NopCloser(s.Reader()), nil }

// Close removes the temporary file.
func (s *Spooled) Close() error {
	err := s.f.Close()
	_ = os.Remove(s.f.Name())
	return err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// ctxWriter stops a running upload or spool once the delivery's context is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w ctxWriter) Write(b []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(b)
}
