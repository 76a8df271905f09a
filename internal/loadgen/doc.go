// Package loadgen is the engine of "parley bench": it drives virtual
// devices through a Parley relay over real TLS WebSockets and measures
// what the relay and the clients achieve.
//
// A run pairs Senders sender devices with as many receiver devices and
// sends for Duration, either in a closed loop (each sender waits for the
// relay's SubmitResult before its next message) or in an open loop at a
// fixed total Rate. In the open loop every message has a scheduled send
// time fixed in advance, and latencies are measured from that time: a
// relay that stalls makes the messages behind the stall late, and their
// lateness is counted, so the percentiles show no coordinated omission.
// Receivers acknowledge deliveries in batches: whatever arrived while the
// previous Ack was being written goes in the next one.
//
// Against several nodes of one deployment (Target.URL lists them) the
// devices are spread over the nodes, each receiver on the node after its
// sender's, so every message crosses nodes (a NATS wake-up carries it),
// and the relay figures are the sums of every node's metrics.
//
// Two latencies are recorded in HDR histograms (1 µs to 1 h, three
// significant digits): submit→ack, from the (scheduled) send to the
// relay's durable SubmitResult, and submit→deliver, from the same
// instant to the receiver's handling of the delivery. Failures are
// counted by the relay's wire error code. Before and after the run the
// relay's Prometheus metrics are scraped, so the report carries the
// relay's own CPU time per envelope and its resident memory, including
// per idle connection when Idle connections are held open.
//
// How messages move is a Driver's business. NewRaw's driver speaks the
// wire protocol directly (internal/wire over coder/websocket) with opaque
// random payloads: it measures the relay's ceiling. The e2ee driver in
// parley.dev/internal/loadgen/e2ee drives real client.Client devices, so
// the whole client path (sessions, vault commits, decryption) is measured.
//
// Every payload starts with a Stamp (the pair, a sequence number and the
// scheduled time), so a receiver can compute its latency; the rest is
// random bytes (raw) or filler text (e2ee).
package loadgen
