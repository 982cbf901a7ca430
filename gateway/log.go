package gateway

import (
	"io"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/portcullis/portcullis/config"
)

// logBufferSize is how much of the access log waits for its next write: at
// about 400 bytes a line, some 650 lines.
const logBufferSize = 256 << 10

// NewLogger builds the process logger from the log section, writing to w
// (the binary's stderr), and returns what writes out whatever it still
// holds and stops it (once, at exit).
//
// With log.flush_interval above zero, the access log's lines are written
// in batches: when the buffer fills, and every flush_interval. One
// write(2) per request was one system call more than a bare reverse proxy
// makes (docs/benchmarks.md, "The access log in batches"); Envoy's file
// access log batches for the same reason. Every other line (a
// warning, a reload, an error) is written at once, and writes the pending
// batch out before it, so the output keeps its order and nothing but
// access lines ever waits.
func NewLogger(c config.Log, w io.Writer) (log *zap.Logger, stop func(), err error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, nil, err
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.SecondsDurationEncoder
	var encoder zapcore.Encoder
	if c.Format == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	// The output is never fsync'ed: a log line is written once write(2)
	// returns, and stderr is mostly a pipe or a terminal, where fsync
	// fails (on a file it would only cost).
	out := zapcore.AddSync(writerOnly{w})
	if c.FlushInterval <= 0 || !c.AccessLog { // nothing to batch
		core := zapcore.NewCore(encoder, zapcore.Lock(out), level)
		return zap.New(core), func() {}, nil
	}
	buf := &zapcore.BufferedWriteSyncer{WS: out, Size: logBufferSize, FlushInterval: time.Duration(c.FlushInterval)}
	core := &batchAccess{Core: zapcore.NewCore(encoder, buf, level), buf: buf}
	return zap.New(core), func() { _ = buf.Stop() }, nil
}

// writerOnly hides an *os.File's Sync from zap (see NewLogger).
type writerOnly struct{ io.Writer }

// batchAccess leaves the access logger's lines in the buffer and writes
// out the buffer after any other line. Its methods take a pointer: Check
// hands the core to zap as an interface on every line, and a value would
// be copied to the heap each time.
type batchAccess struct {
	zapcore.Core
	buf *zapcore.BufferedWriteSyncer
}

func (c *batchAccess) With(fields []zapcore.Field) zapcore.Core {
	return &batchAccess{Core: c.Core.With(fields), buf: c.buf}
}

func (c *batchAccess) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *batchAccess) Write(e zapcore.Entry, fields []zapcore.Field) error {
	if err := c.Core.Write(e, fields); err != nil {
		return err
	}
	if e.LoggerName == AccessLogger {
		return nil
	}
	return c.buf.Sync()
}
