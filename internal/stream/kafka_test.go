package stream

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	nexusv1 "github.com/keystone/nexus/api/nexus/v1"
	"github.com/keystone/nexus/internal/laketest"
)

// selfSigned makes a certificate for 127.0.0.1 and writes it as the CA file
// (and its key beside it, key.pem).
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "nexus test broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(ca), "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, ca
}

// A Kafka that takes TLS and SASL (as a managed cluster does) is reached by
// the edge and the worker with the same options; a wrong password or an
// unknown mechanism fails with a clear error.
func TestKafkaTLSAndSASL(t *testing.T) {
	cert, ca := selfSigned(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "nexus", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	good := KafkaOptions{CAFile: ca, SASL: "scram-sha-512", User: "nexus", Password: "s3cret"}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		k    KafkaOptions
		want string
	}{
		{"wrong password", KafkaOptions{CAFile: ca, SASL: "scram-sha-512", User: "nexus", Password: "nope"}, "SASL scram-sha-512 user and password"},
		{"unknown mechanism", KafkaOptions{CAFile: ca, SASL: "gssapi", User: "u", Password: "p"}, "want one of"},
		{"unknown mechanism, no credentials", KafkaOptions{SASL: "scram-sha-1"}, "want one of"},
		{"plain without TLS", KafkaOptions{SASL: "plain", User: "u", Password: "p"}, "over TLS only"},
		{"no password", KafkaOptions{CAFile: ca, SASL: "scram-sha-256", User: "u"}, "NEXUS_KAFKA_PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			e, err := NewEdge(cctx, ServeOptions{Addr: "127.0.0.1:0", Brokers: brokers, Kafka: tc.k})
			if err == nil {
				e.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
			w, err := NewWorker(WorkerOptions{Brokers: brokers, Kafka: tc.k, Lake: writeLake(t, t.TempDir())})
			if err == nil {
				w.Close()
				t.Fatal("worker: no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("worker: error %q lacks %q", err, tc.want)
			}
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveEdge(t, ln, ServeOptions{Addr: ln.Addr().String(), Brokers: brokers, Kafka: good})
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := Load(ctx, conn, []*nexusv1.Event{order(nil)}, LoadOptions{Batch: 1}); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "lake")
	committed := make(chan BatchStats, 1)
	stop := startWorker(t, WorkerOptions{Brokers: brokers, Kafka: good, Lake: writeLake(t, root), BatchInterval: 100 * time.Millisecond,
		OnCommit: func(s BatchStats) { committed <- s }})
	defer stop()
	select {
	case <-committed:
	case <-time.After(30 * time.Second):
		t.Fatal("nothing committed over TLS and SASL")
	}
	if rows, _ := laketest.BronzeLineage(t, root); rows["orders"] != 1 {
		t.Errorf("bronze: %v", rows)
	}
}

// An edge serving TLS takes a load that trusts its CA, and refuses one in
// plaintext.
func TestLoadOverTLS(t *testing.T) {
	_, ca := selfSigned(t)
	b, err := StartBroker(BrokerOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	serveEdge(t, ln, ServeOptions{Addr: ln.Addr().String(), Brokers: b.Addrs(), TLSCert: ca, TLSKey: filepath.Join(filepath.Dir(ca), "key.pem")})
	for _, tc := range []struct {
		name  string
		tlsOn bool
		ca    string
		ok    bool
	}{
		{"trusting the CA", false, ca, true},
		{"plaintext", false, "", false},
		{"system roots only", true, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds, err := ClientCredentials(tc.tlsOn, tc.ca)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(creds))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = Load(ctx, conn, []*nexusv1.Event{order(nil)}, LoadOptions{Batch: 1, RetryFor: -1, CallTimeout: 10 * time.Second})
			if (err == nil) != tc.ok {
				t.Fatalf("load: %v", err)
			}
		})
	}
	if _, err := ClientCredentials(false, filepath.Join(t.TempDir(), "none.pem")); err == nil {
		t.Error("a missing CA file is not an error")
	}
}
