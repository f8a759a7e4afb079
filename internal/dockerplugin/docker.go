package dockerplugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DockerClient is a minimal client of the Docker engine's API, on its
// unix socket: the plugin asks it for container names and, when
// reconciling, which endpoints still exist.
type DockerClient struct {
	c *http.Client
}

// NewDockerClient talks to the engine at host: unix:///run/docker.sock
// or a socket path.
func NewDockerClient(host string) (*DockerClient, error) {
	path := strings.TrimPrefix(host, "unix://")
	if strings.Contains(path, "://") {
		return nil, fmt.Errorf("docker host %q: only unix sockets (unix:///run/docker.sock)", host)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &DockerClient{c: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// Endpoints implements Docker: GET /networks/{id}.
func (d *DockerClient) Endpoints(ctx context.Context, id string) (map[string]string, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/networks/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := d.c.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode == http.StatusNotFound {
		return nil, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("GET /networks/%s: %s: %s", short(id), resp.Status, strings.TrimSpace(string(body)))
	}
	var n struct {
		Containers map[string]struct {
			Name       string
			EndpointID string
		}
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, false, fmt.Errorf("GET /networks/%s: %v", short(id), err)
	}
	out := map[string]string{}
	for _, c := range n.Containers {
		out[c.EndpointID] = strings.TrimPrefix(c.Name, "/")
	}
	return out, true, nil
}
