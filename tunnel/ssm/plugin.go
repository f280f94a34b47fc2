package ssm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// PluginReadyTimeout bounds how long AWS's plugin may take to open its
// local port.
const PluginReadyTimeout = 30 * time.Second

// PluginConfig configures a PluginDialer.
type PluginConfig struct {
	// API starts and terminates sessions. Required.
	API API
	// Plugin is the session-manager-plugin executable. Required.
	Plugin string
	// Target is the bastion's instance id. Required.
	Target string
	// Region, Profile and Endpoint are handed to the plugin as the AWS CLI
	// hands them: it calls ResumeSession and TerminateSession itself with
	// the profile's credentials. Endpoint "" means the region's SSM endpoint.
	Region, Profile, Endpoint string
	// Log receives the plugin's output and lifecycle (default: discard).
	Log *slog.Logger
}

// PluginDialer forwards through AWS's own session-manager-plugin, spawned
// the way `aws ssm start-session` spawns it, for users who must use AWS's
// binary. Each destination gets one plugin process forwarding a private
// loopback port; connections are dialled to that port. Prefer Dialer: it
// needs no extra binary, multiplexes, and resumes more reliably.
type PluginDialer struct {
	cfg      PluginConfig
	mu       sync.Mutex
	forwards map[string]*pluginForward
	closed   bool
	// pluginEnv caches whether the plugin reads the StartSession response
	// from the environment (nil: not asked yet).
	pluginEnv *bool
}

type pluginForward struct {
	port      int
	sessionID string
	cmd       *exec.Cmd
	stdin     io.Closer
	exited    chan struct{}
}

// NewPlugin checks the plugin executable and returns a dialer.
func NewPlugin(cfg PluginConfig) (*PluginDialer, error) {
	if cfg.API == nil || cfg.Target == "" {
		return nil, errors.New("ssm: plugin dialer needs an API client and a target")
	}
	path, err := exec.LookPath(cfg.Plugin)
	if err != nil {
		return nil, fmt.Errorf("ssm: session-manager-plugin %q not found: install AWS's plugin, or use rdsgate's own client: %w", cfg.Plugin, err)
	}
	cfg.Plugin = path
	if cfg.Endpoint == "" && cfg.Region != "" {
		cfg.Endpoint = "https://ssm." + cfg.Region + ".amazonaws.com"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &PluginDialer{cfg: cfg, forwards: map[string]*pluginForward{}}, nil
}

// Target is the bastion's instance id.
func (d *PluginDialer) Target() string { return d.cfg.Target }

// DialContext connects to address through the plugin's forward for it,
// starting the plugin on first use.
func (d *PluginDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	f, err := d.forward(ctx, address)
	if err != nil {
		return nil, err
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port)))
	if err != nil {
		return nil, fmt.Errorf("ssm: dial the plugin's forward for %s: %w", address, err)
	}
	return c, nil
}

func (d *PluginDialer) forward(ctx context.Context, address string) (*pluginForward, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("ssm: dialer closed")
	}
	if f, ok := d.forwards[address]; ok {
		select {
		case <-f.exited:
			delete(d.forwards, address)
		default:
			return f, nil
		}
	}
	f, err := d.start(ctx, address)
	if err != nil {
		return nil, err
	}
	d.forwards[address] = f
	return f, nil
}

func (d *PluginDialer) start(ctx context.Context, address string) (*pluginForward, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("ssm: %q is not host:port: %w", address, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	local := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	params := map[string][]string{"host": {host}, "portNumber": {port}, "localPortNumber": {strconv.Itoa(local)}}
	out, err := d.cfg.API.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(d.cfg.Target),
		DocumentName: aws.String(DocumentRemoteHost), Parameters: params, Reason: aws.String("rdsgate")})
	if err != nil {
		return nil, apiError("StartSession", d.cfg.Target, err)
	}
	resp, _ := json.Marshal(map[string]any{"SessionId": aws.ToString(out.SessionId), "TokenValue": aws.ToString(out.TokenValue),
		"StreamUrl": aws.ToString(out.StreamUrl), "ResponseMetadata": map[string]any{"HTTPStatusCode": 200}})
	req, _ := json.Marshal(map[string]any{"Target": d.cfg.Target, "DocumentName": DocumentRemoteHost, "Parameters": params})
	// The same six arguments the AWS CLI passes. The response holds the
	// session's token, and argv is readable by every local user: a plugin
	// that can take it from the environment (which only its own user can
	// read) gets the variable's name instead, as AWS CLI v2 does.
	respArg, env := string(resp), os.Environ()
	if d.envResponse(ctx) {
		respArg, env = StartSessionResponseEnv, append(env, StartSessionResponseEnv+"="+string(resp))
	}
	cmd := exec.Command(d.cfg.Plugin, respArg, d.cfg.Region, "StartSession", d.cfg.Profile, string(req), d.cfg.Endpoint)
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		d.terminate(aws.ToString(out.SessionId))
		return nil, fmt.Errorf("ssm: start %s: %w", d.cfg.Plugin, err)
	}
	f := &pluginForward{port: local, sessionID: aws.ToString(out.SessionId), cmd: cmd, stdin: stdin, exited: make(chan struct{})}
	ready := make(chan struct{})
	var readyOnce sync.Once
	var tail []string
	var tailMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			d.cfg.Log.Debug("session-manager-plugin", "session_id", f.sessionID, "line", line)
			tailMu.Lock()
			tail = append(tail, line)
			if len(tail) > 10 {
				tail = tail[1:]
			}
			tailMu.Unlock()
			if strings.Contains(line, "Waiting for connections") {
				readyOnce.Do(func() { close(ready) })
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(f.exited) }()
	t := time.NewTimer(PluginReadyTimeout)
	defer t.Stop()
	select {
	case <-ready:
		d.cfg.Log.Debug("session-manager-plugin forwarding", "session_id", f.sessionID, "local_port", local, "remote", address)
		return f, nil
	case <-f.exited:
	case <-t.C:
	case <-ctx.Done():
	}
	d.stop(f)
	tailMu.Lock()
	defer tailMu.Unlock()
	return nil, fmt.Errorf("ssm: session-manager-plugin did not open its port for %s: %s", address, strings.Join(tail, " | "))
}

// StartSessionResponseEnv is the variable through which a plugin newer than
// lastPluginWithoutEnv takes the StartSession response.
const StartSessionResponseEnv = "AWS_SSM_START_SESSION_RESPONSE"

// lastPluginWithoutEnv is the last plugin version that only reads the
// response from its argv (the AWS CLI's constant of the same meaning).
var lastPluginWithoutEnv = [4]int{1, 2, 497, 0}

// envResponse reports, once per dialer, whether the plugin takes the
// response from the environment; an old or unparsable version falls back to
// argv with a warning that says what that exposes. Callers hold d.mu.
func (d *PluginDialer) envResponse(ctx context.Context) bool {
	if d.pluginEnv != nil {
		return *d.pluginEnv
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, d.cfg.Plugin, "--version").Output()
	v, ok := parsePluginVersion(string(out))
	newer := err == nil && ok && compareVersion(v, lastPluginWithoutEnv) > 0
	if !newer {
		d.cfg.Log.Warn("this session-manager-plugin takes the session token on its command line, where other local users can read it: update it to 1.2.497.0 or later",
			"plugin", d.cfg.Plugin, "version", strings.TrimSpace(string(out)))
	}
	d.pluginEnv = &newer
	return newer
}

// parsePluginVersion reads "1.2.707.0" (with spaces or a newline around).
func parsePluginVersion(s string) ([4]int, bool) {
	var v [4]int
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 4 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

func compareVersion(a, b [4]int) int {
	for i := range a {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return 0
}

// stop ends the plugin (it exits when its stdin closes) and the session.
func (d *PluginDialer) stop(f *pluginForward) {
	f.stdin.Close()
	select {
	case <-f.exited:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
	d.terminate(f.sessionID)
}

func (d *PluginDialer) terminate(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.cfg.API.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String(id)}); err != nil {
		d.cfg.Log.Warn("could not terminate the session", "session_id", id, "err", err)
	}
}

// Close stops every plugin and terminates its session.
func (d *PluginDialer) Close() error {
	d.mu.Lock()
	d.closed = true
	forwards := d.forwards
	d.forwards = map[string]*pluginForward{}
	d.mu.Unlock()
	for _, f := range forwards {
		d.stop(f)
	}
	return nil
}
