// Package s3test starts a real S3 server for tests: versitygw
// (github.com/versity/versitygw) with its posix backend in a temporary
// directory, on loopback. A test that needs it skips when the binary is
// absent, unless NEXUS_REQUIRE_TOOLS is set (CI installs it).
package s3test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Server is a running versitygw.
type Server struct {
	Endpoint string // http://127.0.0.1:port
	Bucket   string
	Dir      string // the posix backend's directory: Dir/Bucket holds the objects
	Access   string
	Secret   string
	cmd      *exec.Cmd
	bin      string
	addr     string
}

// run starts the server and waits until it answers.
func (s *Server) run(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(s.bin, "--access", s.Access, "--secret", s.Secret, "--port", s.addr, "posix", s.Dir)
	s.cmd.Stderr = os.Stderr // its request log goes to stdout: dropped
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw at %s did not answer: %v", s.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart starts a stopped server again, on the same address and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.run(t)
}

// Binary finds versitygw: on PATH, or where `go install` puts it.
func Binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	dirs := []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("HOME"), "go", "bin")}
	for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw not found (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
}

// Start runs versitygw with one bucket, stopped at the test's end; it sets
// the AWS credentials of the test's environment to the server's.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("NEXUS_REQUIRE_TOOLS") != "" {
			t.Fatalf("%v; NEXUS_REQUIRE_TOOLS is set", err)
		}
		t.Skipf("%v: the S3 tests need a real S3 server", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // versitygw listens there below
	s := &Server{Endpoint: "http://" + addr, Bucket: "lake", Dir: t.TempDir(), Access: "nexus-test", Secret: "nexus-test-secret"}
	s.bin, s.addr = bin, addr
	t.Cleanup(s.Stop)
	s.run(t)
	for k, v := range s.env() {
		t.Setenv(k, v)
	}
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.Access, s.Secret, "")})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v", s.Bucket, err)
	}
	return s
}

func (s *Server) env() map[string]string {
	return map[string]string{"AWS_ACCESS_KEY_ID": s.Access, "AWS_SECRET_ACCESS_KEY": s.Secret, "AWS_REGION": "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull}
}

// Env is the environment a nexus process needs to reach the server.
func (s *Server) Env() []string {
	var out []string
	for k, v := range s.env() {
		out = append(out, k+"="+v)
	}
	return out
}

// Stop kills the server (a test may stop it midway to see how a command
// fails).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait() // killed: its exit status is the kill
		s.cmd = nil
	}
}
