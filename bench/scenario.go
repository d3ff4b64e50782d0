package bench

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// IsolationRound is one round of the isolation scenario: the same load against the configuration
// as given and against one with the slow destination added, the delivery figures of both leaving
// the slow destination out.
type IsolationRound struct {
	Without, With Report
	// Slow is what the slow destination's receiver had answered when the other destinations had
	// delivered everything, Span the time from the start of the load until then.
	Slow ReceiverStats
	Span time.Duration
}

// Ratio is the others' delivered/s with the slow destination over without (0 if unknown).
func (r IsolationRound) Ratio() float64 {
	return ratio(r.With.DeliveredPerSecond, r.Without.DeliveredPerSecond)
}

func (r IsolationRound) String() string {
	s := fmt.Sprintf("isolation  others delivered %.0f/s without, %.0f/s with the slow destination (%s)",
		r.Without.DeliveredPerSecond, r.With.DeliveredPerSecond, times(r.Ratio()))
	if r.Without.Unfinished > 0 || r.With.Unfinished > 0 {
		s += fmt.Sprintf(" — unfinished when the wait ended: %d without, %d with", r.Without.Unfinished, r.With.Unfinished)
	}
	s += cpuRatio(r.With, r.Without)
	var dests []string
	for d := range r.Without.Waits {
		if _, ok := r.With.Waits[d]; ok {
			dests = append(dests, d)
		}
	}
	slices.Sort(dests)
	for i, d := range dests {
		sep := ", "
		if i == 0 {
			sep = "; mapped → delivered p50 without → with: "
		}
		s += fmt.Sprintf("%s%s %s → %s", sep, d, r.Without.Waits[d].P50.Round(time.Millisecond), r.With.Waits[d].P50.Round(time.Millisecond))
	}
	perSecond := 0.0
	if r.Span > 0 {
		perSecond = float64(r.Slow.Answered) / r.Span.Seconds()
	}
	return s + fmt.Sprintf("; slow destination delivered %d in %s (%.1f/s)", r.Slow.Answered, r.Span.Round(100*time.Millisecond), perSecond)
}

// WriteIsolation prints each round and, for several, the median ratio.
func WriteIsolation(w io.Writer, rounds []IsolationRound) {
	ratios := make([]float64, 0, len(rounds))
	var cpu []float64
	for i, r := range rounds {
		prefix := ""
		if len(rounds) > 1 {
			prefix = fmt.Sprintf("round %d: ", i+1)
		}
		fmt.Fprintf(w, "%s%s\n", prefix, r)
		ratios = append(ratios, r.Ratio())
		cpu = append(cpu, ratio(float64(r.With.CPUPerAccepted()), float64(r.Without.CPUPerAccepted())))
	}
	if len(rounds) > 1 {
		lo, mid, hi := spread(ratios)
		fmt.Fprintf(w, "isolation  median %s over %d rounds (%s–%s)%s\n", times(mid), len(rounds), times(lo), times(hi), cpuMedian(cpu))
	}
}

// ShapeRound is one round of the shape scenario: the same count of submissions against the
// configuration as given and against the generated shape.
type ShapeRound struct {
	Shape        Shape
	Base, Shaped Report
}

// IntakeRatio is the shape's accepted/s over the given configuration's.
func (r ShapeRound) IntakeRatio() float64 {
	return ratio(r.Shaped.AcceptedPerSecond(), r.Base.AcceptedPerSecond())
}

// DrainRatio is the shape's drain rate over the given configuration's: delivered/s after the
// intake ended when both had a backlog then, else delivered/s end to end.
func (r ShapeRound) DrainRatio() float64 {
	if r.Base.DrainPerSecond > 0 && r.Shaped.DrainPerSecond > 0 {
		return ratio(r.Shaped.DrainPerSecond, r.Base.DrainPerSecond)
	}
	return ratio(r.Shaped.DeliveredPerSecond, r.Base.DeliveredPerSecond)
}

func (r ShapeRound) String() string {
	s := fmt.Sprintf("shape %s  intake %.0f vs %.0f accepted/s (%s)", r.Shape,
		r.Shaped.AcceptedPerSecond(), r.Base.AcceptedPerSecond(), times(r.IntakeRatio()))
	if r.Base.TailPerSecond > 0 && r.Shaped.TailPerSecond > 0 {
		s += fmt.Sprintf(", the last tenth %.0f vs %.0f (%s)", r.Shaped.TailPerSecond, r.Base.TailPerSecond,
			times(ratio(r.Shaped.TailPerSecond, r.Base.TailPerSecond)))
	}
	if r.Base.DrainPerSecond > 0 && r.Shaped.DrainPerSecond > 0 {
		s += fmt.Sprintf("; drain %.0f vs %.0f delivered/s (%s) with %d vs %d waiting when the intake ended",
			r.Shaped.DrainPerSecond, r.Base.DrainPerSecond, times(r.DrainRatio()), r.Shaped.Backlog, r.Base.Backlog)
	}
	s += fmt.Sprintf("; end to end %.0f vs %.0f delivered/s (%s)", r.Shaped.DeliveredPerSecond, r.Base.DeliveredPerSecond,
		times(ratio(r.Shaped.DeliveredPerSecond, r.Base.DeliveredPerSecond)))
	if r.Base.Unfinished > 0 || r.Shaped.Unfinished > 0 {
		s += fmt.Sprintf(" — unfinished when the wait ended: %d vs %d", r.Shaped.Unfinished, r.Base.Unfinished)
	}
	return s + cpuRatio(r.Shaped, r.Base)
}

// cpuRatio compares the daemons' CPU time per accepted submission, the figure other processes
// on the machine disturb least: "; daemon CPU 30.1 vs 29.0 ms per submission (1.04×)".
func cpuRatio(a, b Report) string {
	ca, cb := a.CPUPerAccepted(), b.CPUPerAccepted()
	if ca <= 0 || cb <= 0 {
		return ""
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return fmt.Sprintf("; daemon CPU %.1f vs %.1f ms per submission (%s)", ms(ca), ms(cb), times(ms(ca)/ms(cb)))
}

// WriteShape prints each round and, for several, the median ratios.
func WriteShape(w io.Writer, rounds []ShapeRound) {
	var intake, drain, cpu []float64
	for i, r := range rounds {
		prefix := ""
		if len(rounds) > 1 {
			prefix = fmt.Sprintf("round %d: ", i+1)
		}
		fmt.Fprintf(w, "%s%s (shape vs as given)\n", prefix, r)
		intake, drain = append(intake, r.IntakeRatio()), append(drain, r.DrainRatio())
		cpu = append(cpu, ratio(float64(r.Shaped.CPUPerAccepted()), float64(r.Base.CPUPerAccepted())))
	}
	if len(rounds) > 1 {
		ilo, imid, ihi := spread(intake)
		dlo, dmid, dhi := spread(drain)
		fmt.Fprintf(w, "shape %s  median over %d rounds: intake %s (%s–%s), drain %s (%s–%s)%s\n", rounds[0].Shape, len(rounds),
			times(imid), times(ilo), times(ihi), times(dmid), times(dlo), times(dhi), cpuMedian(cpu))
	}
}

// cpuMedian is the median of the rounds' daemon CPU ratios, if every round has one.
func cpuMedian(ratios []float64) string {
	if slices.Contains(ratios, 0) {
		return ""
	}
	lo, mid, hi := spread(ratios)
	return fmt.Sprintf(", daemon CPU per submission %s (%s–%s)", times(mid), times(lo), times(hi))
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func times(r float64) string {
	if r == 0 {
		return "ratio unknown"
	}
	return fmt.Sprintf("%.2f×", r)
}

// spread is the lowest, median and highest value.
func spread(v []float64) (lo, mid, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	return s[0], (s[(n-1)/2] + s[n/2]) / 2, s[n-1]
}
