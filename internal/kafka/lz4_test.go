package kafka

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	pierrec "github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// The codec installed for lz4 must write standard frames (any lz4 reader
// takes them), with small blocks, and read back what it wrote, also from a
// pooled writer and reader.
func TestLz4CodecRoundTripsWithSmallBlocks(t *testing.T) {
	codec := compress.Lz4.Codec()
	if _, ok := codec.(*lz4Codec); !ok {
		t.Fatalf("lz4 codec is %T, want the small-block codec", codec)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 3 {
		// Half random, half repetitive: compressible like JSON orders.
		data := make([]byte, 300_000)
		for i := range data {
			if i%2 == 0 {
				data[i] = byte(r.IntN(256))
			} else {
				data[i] = 'a' + byte(i%7)
			}
		}
		var buf bytes.Buffer
		w := codec.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		frame := bytes.Clone(buf.Bytes())

		plain := pierrec.NewReader(bytes.NewReader(frame))
		got, err := io.ReadAll(plain)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round %d: a plain lz4 reader read %d bytes (%v), want the %d written", round, len(got), err, len(data))
		}
		// The frame descriptor's BD byte holds the block size id in bits
		// 4-6: 4 is 64 KiB (7 would be 4 MiB).
		if id := frame[5] >> 4 & 7; id != 4 {
			t.Fatalf("round %d: block size id %d, want 4 (64 KiB)", round, id)
		}
		// FLG, the byte before, holds the content checksum flag in bit 2:
		// off, as in the Java client's frames.
		if frame[4]&0x04 != 0 {
			t.Fatalf("round %d: FLG %08b has a content checksum", round, frame[4])
		}
		rc := codec.NewReader(bytes.NewReader(frame))
		got, err = io.ReadAll(rc)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round %d: codec read %d bytes (%v), want the %d written", round, len(got), err, len(data))
		}
		if err := rc.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
