package producer

import "testing"

func TestBehindWhenCreationFallsShortOfTheTargetByMoreThanATenth(t *testing.T) {
	cases := []struct {
		created, asked float64
		want           bool
	}{
		{1000, 1000, false},
		{950, 1000, false},
		{850, 1000, true},
		{0, 0, false},    // full speed: no target
		{1, 2.05, false}, // a low rate's rounding
		{0, 50, true},
	}
	for _, c := range cases {
		if got := behind(c.created, c.asked); got != c.want {
			t.Errorf("behind(%v, %v) = %v, want %v", c.created, c.asked, got, c.want)
		}
	}
}
