package iamauth

import (
	"context"
	"testing"
)

func BenchmarkBuild(b *testing.B) {
	creds := staticCreds(goldenAKID, goldenSecret, "")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(ctx, goldenEndpoint(), creds, goldenTime); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildSessionToken(b *testing.B) {
	creds := staticCreds(goldenAKID, goldenSecret, testSession)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Build(ctx, goldenEndpoint(), creds, goldenTime); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheHit(b *testing.B) {
	clock := newFakeClock(goldenTime)
	c := newTestCache(staticCreds(goldenAKID, goldenSecret, ""), clock, 0)
	ctx := context.Background()
	if _, err := c.Token(ctx, goldenEndpoint()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Token(ctx, goldenEndpoint()); err != nil {
			b.Fatal(err)
		}
	}
	if c.Stats().Builds != 1 {
		b.Fatalf("Stats = %+v", c.Stats())
	}
}

func BenchmarkCacheHitParallel(b *testing.B) {
	clock := newFakeClock(goldenTime)
	c := newTestCache(staticCreds(goldenAKID, goldenSecret, ""), clock, 0)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Token(ctx, goldenEndpoint()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	tok := mustBuild(b, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, ""), goldenTime)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	tok := mustBuild(b, goldenEndpoint(), staticCreds(goldenAKID, goldenSecret, ""), goldenTime)
	lookup := lookupOf(goldenAKID, goldenSecret, "")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(tok, goldenExpect(), lookup, goldenTime); err != nil {
			b.Fatal(err)
		}
	}
}
