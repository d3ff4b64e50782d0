package xoev_test

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

const tenKB = corpus + "/valid/Abgabe.Abgabe.0401-10kb.xml"

// BenchmarkValidate is one core validating a ~10 KB xdomea message: parse, XSD, free.
func BenchmarkValidate(b *testing.B) {
	set := xdomea(b)
	data := read(b, tenKB)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := set.Check(data, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateParallel shares one compiled schema between goroutines (run with -cpu 1,2).
func BenchmarkValidateParallel(b *testing.B) {
	set := xdomea(b)
	data := read(b, tenKB)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := set.Check(data, false); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkValidateMemory reports how much the process's resident memory grew over b.N
// validations (run with -benchtime=100000x): it stays flat when every document is freed.
func BenchmarkValidateMemory(b *testing.B) {
	set := xdomea(b)
	data := read(b, tenKB)
	for i := 0; i < 1000; i++ { // warm up allocator pools
		set.Check(data, false)
	}
	runtime.GC()
	before := rssKB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := set.Check(data, false); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.GC()
	b.ReportMetric(float64(rssKB(b)-before)/1024, "MB-rss-growth")
}

func rssKB(b *testing.B) int {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	b.Skip("no VmRSS")
	return 0
}

// BenchmarkCheckCodes is the code-list check beyond the XSD on the ~10 KB message.
func BenchmarkCheckCodes(b *testing.B) {
	set := xdomea(b)
	data := read(b, tenKB)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if problems := set.CodeLists.Check(data); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}
