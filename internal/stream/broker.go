package stream

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// BrokerOptions configure the embedded broker.
type BrokerOptions struct {
	// Addr is host:port on loopback (port 0: any free port).
	Addr string
	// DataDir, when set, keeps the broker's log on disk across restarts;
	// empty keeps the events in memory only: they are gone when it stops.
	DataDir string
	// Partitions of a topic created on first use.
	Partitions int32
}

// Broker is a Kafka-protocol broker in this process (franz-go's kfake): the
// embedded default when no Kafka is at hand. Production points --brokers at
// Kafka (Amazon MSK, for instance) with the same code.
type Broker struct {
	c *kfake.Cluster
}

// StartBroker starts the embedded broker on a loopback address.
func StartBroker(o BrokerOptions) (*Broker, error) {
	_, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("broker --addr %q: want host:port", o.Addr)
	}
	if loop, err := isLoopback(o.Addr); err != nil || !loop {
		return nil, fmt.Errorf("broker --addr %q: the embedded broker listens on loopback only (it has no authentication); use a real Kafka for other hosts", o.Addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("broker --addr %q: bad port", o.Addr)
	}
	if o.Partitions <= 0 {
		o.Partitions = 3
	}
	// Produce requests name their topics (v12): by topic id (v13), kfake
	// panics on a request naming two topics it does not know, which is what
	// an edge sends to a broker restarted under it. By name, a restarted
	// broker makes the topics anew, and the workers see new topic ids and
	// refuse to mix their offsets with the old ones.
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(kmsg.Produce.Int16(), 12)
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(p), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(int(o.Partitions)),
		kfake.MaxVersions(versions)}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{c: c}, nil
}

// Addrs are the broker's addresses, for --brokers.
func (b *Broker) Addrs() []string { return b.c.ListenAddrs() }

// Close stops the broker.
func (b *Broker) Close() { b.c.Close() }
