package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// KafkaOptions say how to reach a Kafka that is not on loopback: a managed
// cluster (Amazon MSK, Confluent…) takes TLS and SASL.
type KafkaOptions struct {
	// TLS dials the brokers over TLS, trusting the system's roots, or CAFile
	// when set.
	TLS    bool
	CAFile string
	// SASL is the mechanism: "" (none), plain, scram-sha-256 or
	// scram-sha-512, with User and Password.
	SASL           string
	User, Password string
}

// SASLMechanisms are the values KafkaOptions.SASL takes.
var SASLMechanisms = []string{"plain", "scram-sha-256", "scram-sha-512"}

// clientOpts are the franz-go options that KafkaOptions stand for.
func (k KafkaOptions) clientOpts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if k.TLS || k.CAFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if k.CAFile != "" {
			pem, err := os.ReadFile(k.CAFile)
			if err != nil {
				return nil, fmt.Errorf("kafka TLS: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("kafka TLS: %s holds no PEM certificate", k.CAFile)
			}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if k.SASL == "" {
		return opts, nil
	}
	mech := strings.ToLower(k.SASL)
	if !slices.Contains(SASLMechanisms, mech) {
		return nil, fmt.Errorf("kafka SASL %q: want one of %s", k.SASL, strings.Join(SASLMechanisms, ", "))
	}
	if k.User == "" || k.Password == "" {
		return nil, fmt.Errorf("kafka SASL %s: a user and a password are required (NEXUS_KAFKA_USER and NEXUS_KAFKA_PASSWORD, or the variables --kafka-user-env and --kafka-password-env name)", k.SASL)
	}
	switch mech {
	case "plain":
		if !k.TLS && k.CAFile == "" {
			return nil, fmt.Errorf("kafka SASL plain sends the password as it is: use it over TLS only (--kafka-tls)")
		}
		opts = append(opts, kgo.SASL(plain.Auth{User: k.User, Pass: k.Password}.AsMechanism()))
	case "scram-sha-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.User, Pass: k.Password}.AsSha256Mechanism()))
	case "scram-sha-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: k.User, Pass: k.Password}.AsSha512Mechanism()))
	}
	return opts, nil
}

// ping checks that a broker answers, so that a wrong address, certificate
// or password is said at start (franz-go's requests retry until their
// context ends, with the cause in the last error only).
func (k KafkaOptions) ping(ctx context.Context, cl *kgo.Client, brokers []string) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := cl.Ping(pctx)
	switch {
	case err == nil:
		return nil
	case k.SASL != "":
		// A broker may just close the connection on a failed login.
		return fmt.Errorf("kafka %s: %w (check the address, TLS (--kafka-tls, --kafka-ca) and the SASL %s user and password)", strings.Join(brokers, ","), err, k.SASL)
	case k.TLS || k.CAFile != "":
		return fmt.Errorf("kafka %s: %w (check the address and TLS: --kafka-ca, or no --kafka-tls for a plaintext listener)", strings.Join(brokers, ","), err)
	}
	return fmt.Errorf("kafka %s: %w", strings.Join(brokers, ","), err)
}
