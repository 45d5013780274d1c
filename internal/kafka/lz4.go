package kafka

import (
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/segmentio/kafka-go/compress"
)

// kafka-go's lz4 codec writes frames with lz4's default 4 MiB blocks, so
// every batch being compressed holds a 4 MiB buffer, and every reader of
// such a frame another: with six partitions in flight that was most of the
// producer's memory and a good part of the consumer's. The Java client
// writes 64 KiB blocks; so does this codec, installed on kafka-go's codec
// table for every writer in the process. Like the Java client's frames,
// these carry no content checksum: the record batch's CRC-32C already
// covers the compressed bytes end to end, and the xxHash over every byte
// was a tenth of the producer's compression time, paid again by every
// reader. Frames stay standard lz4, read by any client.
func init() {
	compress.Codecs[compress.Lz4] = &lz4Codec{}
}

type lz4Codec struct {
	readers, writers sync.Pool
}

func (c *lz4Codec) Code() int8   { return int8(compress.Lz4) }
func (c *lz4Codec) Name() string { return "lz4" }

func (c *lz4Codec) NewReader(r io.Reader) io.ReadCloser {
	z, _ := c.readers.Get().(*lz4.Reader)
	if z == nil {
		z = lz4.NewReader(r)
	} else {
		z.Reset(r)
	}
	return &lz4Reader{Reader: z, pool: &c.readers}
}

func (c *lz4Codec) NewWriter(w io.Writer) io.WriteCloser {
	z, _ := c.writers.Get().(*lz4.Writer)
	if z == nil {
		z = lz4.NewWriter(w)
		// Reset keeps options, so a pooled writer keeps its block size.
		_ = z.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false))
	} else {
		z.Reset(w)
	}
	return &lz4Writer{Writer: z, pool: &c.writers}
}

type lz4Reader struct {
	*lz4.Reader
	pool *sync.Pool
}

func (r *lz4Reader) Close() error {
	if z := r.Reader; z != nil {
		r.Reader = nil
		z.Reset(nil)
		r.pool.Put(z)
	}
	return nil
}

type lz4Writer struct {
	*lz4.Writer
	pool *sync.Pool
}

func (w *lz4Writer) Close() error {
	z := w.Writer
	if z == nil {
		return nil
	}
	w.Writer = nil
	err := z.Close()
	z.Reset(nil)
	w.pool.Put(z)
	return err
}
