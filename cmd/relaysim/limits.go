package main

import (
	"flag"
	"strconv"
	"time"

	"github.com/relaykit/relaykit/simulator"
)

// devFlag is --dev: unset, it follows the other flags (on for a loopback
// address without identity tokens); set, it was asked for.
type devFlag struct {
	on, set bool
}

func (d *devFlag) String() string {
	if d == nil || !d.set {
		return "auto"
	}
	return strconv.FormatBool(d.on)
}

func (d *devFlag) Set(v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	d.on, d.set = b, true
	return nil
}

// IsBoolFlag lets --dev stand alone, as a bool flag does.
func (d *devFlag) IsBoolFlag() bool { return true }

// limitFlags are the server's limits: provisioning, the HTTP server and
// the data path's memory bounds.
type limitFlags struct {
	provisionBurst, provisionTotalBurst   int
	provisionRefill, provisionTotalRefill time.Duration
	maxGateways, maxGatewaysPerTenant     int

	readHeaderTimeout, readTimeout, writeTimeout time.Duration
	mediaTimeout, idleTimeout                    time.Duration
	maxHeaderBytes, maxConns                     int

	// Memory bounds of the data path (docs/security.md, "Limits").
	queueMaxFrames                                         int
	queueMaxBytes, queueMaxTotalBytes                      int64
	queueWait, socketWriteTimeout                          time.Duration
	bufferMaxEntries                                       int
	bufferMaxBytes, bufferMaxTotalBytes                    int64
	historySize                                            int
	historyMaxBytes, historyMaxTotalBytes, journalMaxBytes int64
}

func addLimitFlags(fs *flag.FlagSet, l *limitFlags) {
	fs.IntVar(&l.provisionBurst, "provision-burst", simulator.DefaultProvisionBurst, "provision and enroll calls (`n`) one tenant may make in a burst before further ones get 429 with Retry-After; negative disables")
	fs.DurationVar(&l.provisionRefill, "provision-refill", simulator.DefaultProvisionRefill, "the `duration` it takes a tenant to earn one provision or enroll call back")
	fs.IntVar(&l.provisionTotalBurst, "provision-total-burst", simulator.DefaultProvisionTotalBurst, "provision and enroll calls (`n`) all tenants together may make in a burst; negative disables")
	fs.DurationVar(&l.provisionTotalRefill, "provision-total-refill", simulator.DefaultProvisionTotalRefill, "the `duration` it takes all tenants together to earn one call back")
	fs.IntVar(&l.maxGateways, "max-gateways", simulator.DefaultMaxGateways, "gateway records (`n`) provision and enroll may create in total; more get 507; negative means no cap")
	fs.IntVar(&l.maxGatewaysPerTenant, "max-gateways-per-tenant", simulator.DefaultMaxGatewaysPerTenant, "gateway records (`n`) provision and enroll may create per tenant; more get 507; negative means no cap")
	fs.DurationVar(&l.readHeaderTimeout, "read-header-timeout", simulator.DefaultReadHeaderTimeout, "close a connection whose request headers take longer than this `duration`")
	fs.DurationVar(&l.readTimeout, "read-timeout", simulator.DefaultReadTimeout, "close a connection whose request, body included, takes longer than this `duration` to arrive (media: --media-timeout; WebSockets: never)")
	fs.DurationVar(&l.writeTimeout, "write-timeout", simulator.DefaultWriteTimeout, "close a connection whose answer takes longer than this `duration` to write (media: --media-timeout; WebSockets: never)")
	fs.DurationVar(&l.mediaTimeout, "media-timeout", simulator.DefaultMediaTimeout, "the `duration` one media upload may take to arrive and one download to be written")
	fs.DurationVar(&l.idleTimeout, "idle-timeout", simulator.DefaultIdleTimeout, "close a keep-alive connection idle for this `duration`")
	fs.IntVar(&l.maxHeaderBytes, "max-header-bytes", simulator.DefaultMaxHeaderBytes, "largest request header block in `bytes`; larger ones get 431")
	fs.IntVar(&l.maxConns, "max-conns", simulator.DefaultMaxConns(), "connections (`n`, WebSockets included) open at once; more are answered 503 with Retry-After and closed; negative means no cap (the default is 4096, or 3/4 of the open-file limit when lower)")
	fs.IntVar(&l.queueMaxFrames, "queue-max-frames", simulator.DefaultQueueMaxFrames, "frames (`n`) one socket's write queue holds; a live event that does not fit is buffered instead")
	fs.Int64Var(&l.queueMaxBytes, "queue-max-bytes", simulator.DefaultQueueMaxBytes, "`bytes` one socket's write queue holds; a live event that does not fit is buffered instead")
	fs.Int64Var(&l.queueMaxTotalBytes, "queue-max-total-bytes", simulator.DefaultQueueMaxTotalBytes, "`bytes` queued for live delivery across all sockets; past it live events are buffered")
	fs.DurationVar(&l.queueWait, "queue-wait", simulator.DefaultQueueWait, "how long (a `duration`) an inject waits for room in a full socket queue whose writer frees none, holding no lock, before buffering; negative never waits")
	fs.DurationVar(&l.socketWriteTimeout, "socket-write-timeout", 0, "close 1011 a socket whose writer made no progress for this wall-clock `duration` (a peer that stopped reading); 0 means the ping timeout, negative disables")
	fs.IntVar(&l.bufferMaxEntries, "buffer-max-entries", simulator.DefaultBufferMaxEntries, "entries (`n`) one instance's buffer holds; beyond it inject answers 507")
	fs.Int64Var(&l.bufferMaxBytes, "buffer-max-bytes", simulator.DefaultBufferMaxBytes, "`bytes` one instance's buffer holds; beyond it inject answers 507")
	fs.Int64Var(&l.bufferMaxTotalBytes, "buffer-max-total-bytes", simulator.DefaultBufferMaxTotalBytes, "`bytes` buffered across all instances; beyond it inject answers 507")
	fs.IntVar(&l.historySize, "history-size", simulator.DefaultHistorySize, "outbound records, interrupts and draft and thread ids (`n` each) kept per gateway, and wakes per instance; the oldest go first")
	fs.Int64Var(&l.historyMaxBytes, "history-max-bytes", simulator.DefaultHistoryMaxBytes, "`bytes` of each of those kept per gateway; the oldest go first")
	fs.Int64Var(&l.historyMaxTotalBytes, "history-max-total-bytes", simulator.DefaultHistoryMaxTotalBytes, "`bytes` of each of those kept across gateways; the largest gateway's oldest go first")
	fs.Int64Var(&l.journalMaxBytes, "journal-max-bytes", simulator.DefaultJournalMaxBytes, "`bytes` the journal holds; the oldest entries go first")
}

// apply copies the limits into opts.
func (l *limitFlags) apply(opts *simulator.Options) {
	opts.ProvisionBurst, opts.ProvisionRefill = l.provisionBurst, l.provisionRefill
	opts.ProvisionTotalBurst, opts.ProvisionTotalRefill = l.provisionTotalBurst, l.provisionTotalRefill
	opts.MaxGateways, opts.MaxGatewaysPerTenant = l.maxGateways, l.maxGatewaysPerTenant
	opts.ReadHeaderTimeout, opts.ReadTimeout, opts.WriteTimeout = l.readHeaderTimeout, l.readTimeout, l.writeTimeout
	opts.MediaTimeout, opts.IdleTimeout = l.mediaTimeout, l.idleTimeout
	opts.MaxHeaderBytes, opts.MaxConns = l.maxHeaderBytes, l.maxConns
	opts.QueueMaxFrames, opts.QueueMaxBytes, opts.QueueMaxTotalBytes = l.queueMaxFrames, l.queueMaxBytes, l.queueMaxTotalBytes
	opts.QueueWait, opts.SocketWriteTimeout = l.queueWait, l.socketWriteTimeout
	opts.BufferMaxEntries, opts.BufferMaxBytes, opts.BufferMaxTotalBytes = l.bufferMaxEntries, l.bufferMaxBytes, l.bufferMaxTotalBytes
	opts.HistorySize, opts.HistoryMaxBytes, opts.HistoryMaxTotalBytes = l.historySize, l.historyMaxBytes, l.historyMaxTotalBytes
	opts.JournalMaxBytes = l.journalMaxBytes
}
