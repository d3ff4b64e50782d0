package adapters

import (
	"bytes"
	"crypto/rand"
	"io"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchPackage is a 10 KB message with one 100 KB PDF.
func benchPackage(b *testing.B) *Package {
	b.Helper()
	xml := bytes.Repeat([]byte("<x>Gewerbeanmeldung</x>\n"), 430)
	pdf := make([]byte, 100_000)
	rand.Read(pdf)
	return &Package{SubmissionID: "s", MessageID: "0b7e2f5c-5f0e-4a51-9d0e-8f3a8f0c2b11", MessageType: "Abgabe.Abgabe.0401",
		CreatedAt: time.Now(), XML: xml, Files: []File{{Name: "0b7e2f5c-5f0e-4a51-9d0e-8f3a8f0c2b11_a.pdf", MediaType: "application/pdf",
			Size: int64(len(pdf)), Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(pdf)), nil }}}}
}

// Packaging a message and its file as a zip, in memory.
func BenchmarkZipPackage(b *testing.B) {
	p := benchPackage(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteZip(io.Discard, "m.xml", p); err != nil {
			b.Fatal(err)
		}
	}
}

// A whole filedrop delivery: zip, temporary file, fsync, link, directory fsync.
func BenchmarkFiledropDeliver(b *testing.B) {
	p := benchPackage(b)
	a := benchDrop(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		p.MessageID = "0b7e2f5c-5f0e-4a51-9d0e-" + padID(i)
		if _, err := a.Deliver(b.Context(), p); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDrop is a filedrop adapter into a fresh directory, closed when the benchmark ends.
func benchDrop(b *testing.B) Adapter {
	a, err := New("filedrop", map[string]any{"path": b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return a
}

func padID(i int) string {
	const digits = "0123456789abcdef"
	out := []byte("000000000000")
	for k := len(out) - 1; k >= 0 && i > 0; k-- {
		out[k] = digits[i%16]
		i /= 16
	}
	return string(out)
}

// Four file drops into one directory at a time, as with max_in_flight: 4.
func BenchmarkFiledropDeliverParallel(b *testing.B) {
	p := benchPackage(b)
	a := benchDrop(b)
	var n atomic.Int64
	b.SetParallelism(2) // 2 × GOMAXPROCS(2) = 4 goroutines
	b.ReportAllocs()
	before := cpuTime(b)
	defer func() { b.ReportMetric(float64((cpuTime(b)-before).Nanoseconds())/float64(n.Load()), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pkg := *p
			pkg.MessageID = "0b7e2f5c-5f0e-4a51-9d0e-" + padID(int(n.Add(1)))
			if _, err := a.Deliver(b.Context(), &pkg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Naming a package by the default pattern, as every file-writing delivery does.
func BenchmarkPatternName(b *testing.B) {
	p := benchPackage(b)
	pat, err := ParseName("")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if pat.Name(p) == "" {
			b.Fatal("no name")
		}
	}
}
