package schedule

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/keystone/nexus/internal/schedule/runstore"
)

// AlertEvent is what an alert is about.
type AlertEvent string

// Alert events.
const (
	EventRunFailed        AlertEvent = "run_failed"
	EventChecksFailed     AlertEvent = "checks_failed"
	EventSalesQuarantined AlertEvent = "sales_quarantined"
	EventSLAMissed        AlertEvent = "sla_missed"
	// EventRecordsQuarantined: an ingestion quarantined source records.
	EventRecordsQuarantined AlertEvent = "records_quarantined"
	// EventRecovered closes an incident: the next run succeeded.
	EventRecovered AlertEvent = "recovered"
)

// Alert is the JSON body posted to each webhook (and given to the command on
// stdin). Text makes it a Slack incoming-webhook message as it is.
type Alert struct {
	Text        string              `json:"text"`
	Event       AlertEvent          `json:"event"`
	Severity    string              `json:"severity"` // error, warning or info
	Incident    string              `json:"incident"` // the key that pairs an alert with its recovery
	Job         string              `json:"job,omitempty"`
	CycleID     int64               `json:"cycle_id,omitempty"`
	RunID       int64               `json:"run_id,omitempty"`
	LogicalDate string              `json:"logical_date,omitempty"`
	Error       string              `json:"error,omitempty"`
	Checks      []runstore.CheckRow `json:"failed_checks,omitempty"`
	Lake        string              `json:"lake"`
	Host        string              `json:"host"`
	Time        time.Time           `json:"time"`
}

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body
// under the shared secret, as GitHub's webhooks do.
const SignatureHeader = "X-Nexus-Signature-256"

// Sign is the value of SignatureHeader for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Notifier delivers alerts to the configured webhooks and command.
type Notifier struct {
	Webhooks []string
	Secret   []byte
	Command  []string
	Retries  int
	// Backoff is the first wait between deliveries of one alert (doubles).
	Backoff time.Duration
	Client  *http.Client
	Logger  *slog.Logger
}

// NewNotifier builds the notifier of a configuration; the secret comes from
// the environment variable the configuration names.
func NewNotifier(a Alerts, log *slog.Logger) *Notifier {
	n := &Notifier{Webhooks: a.Webhooks, Command: a.Command, Retries: a.Retries, Backoff: time.Second,
		Client: &http.Client{Timeout: 10 * time.Second}, Logger: log}
	if a.SecretEnv != "" {
		n.Secret = []byte(os.Getenv(a.SecretEnv))
	}
	return n
}

// Enabled reports whether alerts go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && (len(n.Webhooks) > 0 || len(n.Command) > 0) }

// Notify delivers one alert everywhere, retrying each destination; the error
// joins the destinations that never took it.
func (n *Notifier) Notify(ctx context.Context, a Alert) error {
	if !n.Enabled() {
		return nil
	}
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("alert: %w", err)
	}
	var errs []error
	for _, u := range n.Webhooks {
		if err := n.retry(ctx, func() error { return n.post(ctx, u, a.Event, body) }); err != nil {
			errs = append(errs, fmt.Errorf("alert webhook %s: %w", u, err))
		}
	}
	if len(n.Command) > 0 {
		if err := n.retry(ctx, func() error { return n.run(ctx, body) }); err != nil {
			errs = append(errs, fmt.Errorf("alert command %s: %w", n.Command[0], err))
		}
	}
	err = errors.Join(errs...)
	if err != nil && n.Logger != nil {
		n.Logger.Warn("alert not delivered", "event", a.Event, "incident", a.Incident, "err", err)
	}
	return err
}

func (n *Notifier) retry(ctx context.Context, fn func() error) error {
	wait := n.Backoff
	var err error
	for i := 0; ; i++ {
		if err = fn(); err == nil || i >= n.Retries {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (n *Notifier) post(ctx context.Context, url string, ev AlertEvent, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "nexus-scheduler")
	req.Header.Set("X-Nexus-Event", string(ev))
	if len(n.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(n.Secret, body))
	}
	resp, err := n.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // drained for connection reuse; its content is not needed
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	return nil
}

func (n *Notifier) run(ctx context.Context, body []byte) error {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, n.Command[0], n.Command[1:]...)
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
