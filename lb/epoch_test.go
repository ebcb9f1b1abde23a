package lb

import "testing"

// TestHealthEpoch: the epoch moves on every change of a State between up
// and down and on NotifyHealthChange, and only then.
func TestHealthEpoch(t *testing.T) {
	var st State
	e := HealthEpoch()
	st.SetUp(true) // no change
	if HealthEpoch() != e {
		t.Fatal("the epoch moved without a change")
	}
	st.SetUp(false)
	if HealthEpoch() == e {
		t.Fatal("a State going down did not move the epoch")
	}
	e = HealthEpoch()
	NotifyHealthChange()
	if HealthEpoch() == e {
		t.Fatal("NotifyHealthChange did not move the epoch")
	}
}

// TestHintTruncate: cookies recorded after a mark are forgotten.
func TestHintTruncate(t *testing.T) {
	a, b := NewCookieSpec(CookieConfig{Name: "a"}, "x"), NewCookieSpec(CookieConfig{Name: "b"}, "y")
	var h Hint
	h.addSetCookie(&a, "1")
	mark := h.Mark()
	h.addSetCookie(&b, "2")
	h.Truncate(mark)
	if sc := h.SetCookies(); len(sc) != 1 || sc[0].Spec.Name != "a" {
		t.Fatalf("cookies after Truncate: %+v", sc)
	}
	h.Truncate(5) // beyond what is recorded: nothing changes
	if len(h.SetCookies()) != 1 {
		t.Fatal("Truncate past the end changed the cookies")
	}
}
