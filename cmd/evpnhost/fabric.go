package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/evpnhost/evpnhost/api"
	"github.com/evpnhost/evpnhost/internal/fabric"
)

// etcdFlags are the connection flags of the agent and the fabric commands.
type etcdFlags struct {
	endpoints         []string
	prefix            string
	cacert, cert, key string
	user              string
	passwordFile      string
	password          string // refused: a password on the command line is visible to every user (ps)
	dialTimeout       time.Duration
	persistent        bool // flags of a command and its subcommands
}

func (e *etcdFlags) register(c *cobra.Command) {
	f := c.Flags()
	if e.persistent {
		f = c.PersistentFlags()
	}
	def := strings.Split(os.Getenv("EVPNHOST_ETCD_ENDPOINTS"), ",")
	def = slices.DeleteFunc(def, func(s string) bool { return s == "" })
	f.StringSliceVar(&e.endpoints, "etcd-endpoints", def, "etcd endpoints, comma separated: host:port, https://host:port or unix:///path (env EVPNHOST_ETCD_ENDPOINTS)")
	f.StringVar(&e.prefix, "etcd-prefix", fabric.DefaultPrefix, "key prefix of the fabric intent")
	f.StringVar(&e.cacert, "etcd-cacert", "", "CA certificate that signed etcd's server certificate (enables TLS)")
	f.StringVar(&e.cert, "etcd-cert", "", "client certificate for etcd (with --etcd-key)")
	f.StringVar(&e.key, "etcd-key", "", "client key for etcd")
	f.StringVar(&e.user, "etcd-user", "", "etcd user NAME; its password comes from --etcd-password-file or env "+passwordEnv+" (needs TLS unless etcd is on loopback or a unix socket)")
	f.StringVar(&e.passwordFile, "etcd-password-file", "", "file holding the etcd user's password (first line; with --etcd-user)")
	f.StringVar(&e.password, "etcd-password", "", "refused: use --etcd-password-file or env "+passwordEnv)
	_ = f.MarkHidden("etcd-password")
	f.DurationVar(&e.dialTimeout, "etcd-dial-timeout", 3*time.Second, "how long to wait for etcd on each call")
}

// agentHostName turns the agent's --host into a fabric host name: the
// first label, lowercased, so that a hostname as the system reports it
// (systemd's %H: "Node1", "node1.dc1.example.com") names host node1. The
// result must be a valid host name (api.ValidName).
func agentHostName(s string) (string, error) {
	name, _, _ := strings.Cut(s, ".")
	name = strings.ToLower(name)
	if !api.ValidName(name) {
		return "", fmt.Errorf("--host %q: %q is not a valid host name (lowercase letters, digits, '-' and '_', starting with a letter or digit, at most %d characters)", s, name, api.MaxNameLen)
	}
	return name, nil
}

// passwordEnv is where the etcd password may come from besides a file.
const passwordEnv = "EVPNHOST_ETCD_PASSWORD"

// config turns the flags into a checked fabric.Config. Passwords never
// come from the command line, where every local user can read them.
func (e *etcdFlags) config() (fabric.Config, error) {
	var cfg fabric.Config
	if len(e.endpoints) == 0 {
		return cfg, errors.New("no etcd endpoints: give --etcd-endpoints or set EVPNHOST_ETCD_ENDPOINTS")
	}
	if e.password != "" {
		return cfg, fmt.Errorf("--etcd-password is refused: a password on the command line is visible to every local user; put it in a file (--etcd-password-file FILE, mode 0600) or in env %s", passwordEnv)
	}
	user := e.user
	if name, _, ok := strings.Cut(user, ":"); ok {
		return cfg, fmt.Errorf("--etcd-user %s:... is refused: a password on the command line is visible to every local user; give --etcd-user %s and the password in --etcd-password-file FILE or env %s", name, name, passwordEnv)
	}
	var pass string
	switch {
	case e.passwordFile != "":
		b, err := os.ReadFile(e.passwordFile)
		if err != nil {
			return cfg, fmt.Errorf("etcd password: %w", err)
		}
		pass, _, _ = strings.Cut(string(b), "\n")
		pass = strings.TrimSuffix(pass, "\r")
		if pass == "" {
			return cfg, fmt.Errorf("etcd password file %s is empty", e.passwordFile)
		}
	default:
		pass = os.Getenv(passwordEnv)
	}
	if user == "" && e.passwordFile != "" {
		return cfg, errors.New("--etcd-password-file needs --etcd-user NAME")
	}
	if user == "" {
		pass = "" // the environment's password is for a user, and there is none
	}
	if user != "" && pass == "" {
		return cfg, fmt.Errorf("--etcd-user %s has no password: give --etcd-password-file FILE or set %s", user, passwordEnv)
	}
	cfg = fabric.Config{
		Endpoints: e.endpoints, Prefix: e.prefix, DialTimeout: e.dialTimeout,
		CACert: e.cacert, Cert: e.cert, Key: e.key, Username: user, Password: pass,
	}
	return cfg, cfg.Check()
}

func (e *etcdFlags) open() (*fabric.Store, error) {
	cfg, err := e.config()
	if err != nil {
		return nil, err
	}
	return fabric.Open(cfg)
}

// withStore opens the store for one command and bounds the call.
func (e *etcdFlags) withStore(ctx context.Context, f func(context.Context, *fabric.Store) error) error {
	st, err := e.open()
	if err != nil {
		return exitError{exitInvalid, err}
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(ctx, e.dialTimeout+10*time.Second)
	defer cancel()
	return f(ctx, st)
}

// withSnapshot reads the whole fabric once, for commands that only read.
func (e *etcdFlags) withSnapshot(ctx context.Context, f func(*fabric.Snapshot) error) error {
	return e.withStore(ctx, func(ctx context.Context, st *fabric.Store) error {
		snap, err := st.Snapshot(ctx)
		if err != nil {
			return exitError{exitFailed, err}
		}
		return f(snap)
	})
}

func fabricCmd() *cobra.Command {
	e := &etcdFlags{persistent: true}
	c := &cobra.Command{
		Use:   "fabric",
		Short: "Read and write the fabric-wide intent in etcd; see which hosts are converged",
		Long: `The fabric intent lives in etcd (v3 API) under a prefix (default /evpnhost):

  PREFIX/tenants/NAME     a tenant with its networks, defined once for the fabric
  PREFIX/hosts/NAME       one host's underlay (ASN, VTEP, uplinks)
  PREFIX/workloads/NAME   the workloads of host NAME
  PREFIX/status/NAME      written back by host NAME's agent

A host's intent is its host key, every tenant and its workloads; 'evpnhost agent
--etcd-endpoints ... --host NAME' applies it and follows changes. Every write is
validated first for every host it affects, and written in one transaction; an
invalid fabric is refused with the reason (exit status 2) and nothing is written.`,
	}
	e.register(c)
	c.AddCommand(fabricPutCmd(e), fabricGetCmd(e), fabricValidateCmd(e), fabricDeleteCmd(e), fabricStatusCmd(e), fabricHostUserCmd(e))
	return c
}

// changeFromFile reads an intent-shaped document: tenants to put, and a
// host's part (host and workloads) when it has a host section or --host.
func changeFromFile(path, host string) (fabric.Change, error) {
	var ch fabric.Change
	b, err := os.ReadFile(path)
	if err != nil {
		return ch, exitError{exitInvalid, err}
	}
	in, err := api.Parse(b)
	if err != nil {
		return ch, exitError{exitInvalid, fmt.Errorf("%s:\n%w", path, err)}
	}
	ch.PutTenants = in.Tenants
	switch {
	case in.Host.Name != "" && host != "" && host != in.Host.Name:
		return ch, exitError{exitInvalid, fmt.Errorf("%s: host.name is %q but --host is %q", path, in.Host.Name, host)}
	case in.Host.Name != "":
		h := in.Host
		ch.Host, ch.PutHost = h.Name, &h
		w := in.Workloads
		if w == nil {
			w = []api.Workload{}
		}
		ch.PutWorkloads = &w
	case host != "":
		ch.Host = host
		w := in.Workloads
		ch.PutWorkloads = &w
	case len(in.Workloads) > 0:
		return ch, exitError{exitInvalid, fmt.Errorf("%s: workloads need a host: add a host section or --host NAME", path)}
	}
	if len(ch.PutTenants) == 0 && ch.Host == "" {
		return ch, exitError{exitInvalid, fmt.Errorf("%s: nothing to put (no tenants, no host)", path)}
	}
	return ch, nil
}

func storeError(err error) error {
	var inv *fabric.InvalidError
	if errors.As(err, &inv) {
		return exitError{exitInvalid, err}
	}
	var ee exitError
	if errors.As(err, &ee) {
		return err
	}
	return exitError{exitFailed, err}
}

func fabricPutCmd(e *etcdFlags) *cobra.Command {
	var path, host string
	c := &cobra.Command{
		Use:   "put -f FILE [--host NAME]",
		Short: "Validate and write tenants, a host's underlay and its workloads",
		Long: `FILE has the shape of an intent file, every section optional:
  tenants:    each is written under tenants/NAME (other stored tenants stay)
  host:       written under hosts/NAME; the file's workloads replace the host's
  workloads:  with --host NAME (and no host section): replace that host's workloads
A host intent file can thus be put as it is. The fabric as it would be after the
write is validated for every host first; nothing is written when it is invalid.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ch, err := changeFromFile(path, host)
			if err != nil {
				return err
			}
			return e.withStore(c.Context(), func(ctx context.Context, st *fabric.Store) error {
				rev, err := st.Apply(ctx, ch)
				if err != nil {
					return storeError(err)
				}
				fmt.Fprintf(c.OutOrStdout(), "written at revision %d\n", rev)
				return nil
			})
		},
	}
	c.Flags().StringVarP(&path, "file", "f", "", "intent-shaped YAML file, required")
	_ = c.MarkFlagRequired("file")
	c.Flags().StringVar(&host, "host", "", "host whose workloads the file's workloads are")
	return c
}

func fabricGetCmd(e *etcdFlags) *cobra.Command {
	var host string
	c := &cobra.Command{
		Use:   "get [--host NAME]",
		Short: "Print the fabric's tenants, or one host's whole intent, as YAML",
		Long: `Without --host: the tenants of the fabric and the list of hosts. With --host: the
host's composed intent (its underlay, every tenant, its workloads), exactly what its
agent applies; the output is a valid intent file for 'evpnhost apply -f'.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return e.withSnapshot(c.Context(), func(snap *fabric.Snapshot) error {
				out := c.OutOrStdout()
				if host != "" {
					in, _, err := snap.HostIntent(host)
					if err != nil {
						return exitError{exitInvalid, fmt.Errorf("host %s:\n%w", host, err)}
					}
					fmt.Fprintf(out, "# intent of host %s at etcd revision %d\n", host, snap.Revision)
					return yaml.NewEncoder(out).Encode(in)
				}
				var doc struct {
					Tenants []api.Tenant `yaml:"tenants"`
				}
				for _, name := range snap.Tenants() {
					var t api.Tenant
					if err := yaml.Unmarshal(snap.Values[snap.Layout.Key(fabric.KindTenant, name)].Data, &t); err != nil {
						return exitError{exitInvalid, fmt.Errorf("%s: %w", snap.Layout.Key(fabric.KindTenant, name), err)}
					}
					doc.Tenants = append(doc.Tenants, t)
				}
				fmt.Fprintf(out, "# fabric at etcd revision %d; hosts: %s\n", snap.Revision, joinOrDash(snap.Hosts()))
				return yaml.NewEncoder(out).Encode(doc)
			})
		},
	}
	c.Flags().StringVar(&host, "host", "", "print this host's composed intent")
	return c
}

func fabricValidateCmd(e *etcdFlags) *cobra.Command {
	var path, host string
	c := &cobra.Command{
		Use:   "validate [-f FILE [--host NAME]]",
		Short: "Validate the stored fabric intent, or what a put of FILE would make of it",
		Long: `Without -f: validate what etcd holds (also what other tools wrote), every host's
composed intent, and report each problem with the host and its path. With -f: check
the fabric as 'fabric put -f FILE' would leave it, writing nothing. Exit status 0 when
valid, 2 when not.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var ch *fabric.Change
			if path != "" {
				x, err := changeFromFile(path, host)
				if err != nil {
					return err
				}
				ch = &x
			}
			valid := func() error {
				fmt.Fprintln(c.OutOrStdout(), "fabric intent: valid")
				return nil
			}
			if ch != nil {
				return e.withStore(c.Context(), func(ctx context.Context, st *fabric.Store) error {
					if err := st.Check(ctx, *ch); err != nil {
						return storeError(err)
					}
					return valid()
				})
			}
			return e.withSnapshot(c.Context(), func(snap *fabric.Snapshot) error {
				if bad := snap.Validate(); len(bad) > 0 {
					return exitError{exitInvalid, &fabric.InvalidError{Hosts: bad}}
				}
				return valid()
			})
		},
	}
	c.Flags().StringVarP(&path, "file", "f", "", "intent-shaped YAML file to check as a put")
	c.Flags().StringVar(&host, "host", "", "host whose workloads the file's workloads are")
	return c
}

func fabricDeleteCmd(e *etcdFlags) *cobra.Command {
	c := &cobra.Command{
		Use:   "delete (tenant NAME... | host NAME | workloads HOST)",
		Short: "Remove tenants, a host (with its workloads and status) or a host's workloads",
		Long: `Validated like a put: removing a tenant that a host's workloads still use is
refused. Agents remove what their host no longer has.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			var ch fabric.Change
			switch args[0] {
			case "tenant", "tenants":
				ch.DeleteTenants = args[1:]
			case "host":
				if len(args) != 2 {
					return exitError{exitInvalid, errors.New("delete host takes one name")}
				}
				ch.Host, ch.DeleteHost = args[1], true
			case "workloads":
				if len(args) != 2 {
					return exitError{exitInvalid, errors.New("delete workloads takes one host name")}
				}
				none := []api.Workload{}
				ch.Host, ch.PutWorkloads = args[1], &none
			default:
				return exitError{exitInvalid, fmt.Errorf("cannot delete %q: want tenant, host or workloads", args[0])}
			}
			return e.withStore(c.Context(), func(ctx context.Context, st *fabric.Store) error {
				rev, err := st.Apply(ctx, ch)
				if err != nil {
					return storeError(err)
				}
				fmt.Fprintf(c.OutOrStdout(), "deleted at revision %d\n", rev)
				return nil
			})
		},
	}
	return c
}

func fabricHostUserCmd(e *etcdFlags) *cobra.Command {
	var user, pwFile string
	c := &cobra.Command{
		Use:   "host-user HOST --password-file FILE [--user NAME]",
		Short: "Give HOST's agent an etcd user that reads the fabric and writes only its own status",
		Long: `Creates (or updates) the etcd role evpnhost-host-HOST, which may read every key under
the prefix and write only PREFIX/status/HOST, and the user NAME (default: HOST) with
that role and the password in FILE (first line). An agent running as that user cannot
change any intent nor another host's status. Run it as an etcd administrator (the root
user once authentication is on: --etcd-user root --etcd-password-file ...); it may be
run again. See docs/agent.md for the whole setup and the etcdctl equivalent.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			host := args[0]
			if user == "" {
				user = host
			}
			b, err := os.ReadFile(pwFile)
			if err != nil {
				return exitError{exitInvalid, err}
			}
			pass, _, _ := strings.Cut(string(b), "\n")
			if pass = strings.TrimSuffix(pass, "\r"); pass == "" {
				return exitError{exitInvalid, fmt.Errorf("password file %s is empty", pwFile)}
			}
			return e.withStore(c.Context(), func(ctx context.Context, st *fabric.Store) error {
				if err := st.SetupHostUser(ctx, host, user, pass); err != nil {
					return exitError{exitFailed, err}
				}
				fmt.Fprintf(c.OutOrStdout(), "etcd user %s has role %s: reads %s, writes %s\n", user, fabric.HostRole(host), st.Layout.Root(), st.Layout.Key(fabric.KindStatus, host))
				return nil
			})
		},
	}
	c.Flags().StringVar(&user, "user", "", "etcd user name (default: the host name)")
	c.Flags().StringVar(&pwFile, "password-file", "", "file holding the new user's password, required")
	_ = c.MarkFlagRequired("password-file")
	return c
}

// printable escapes what a host wrote before it reaches a terminal: any
// host with write access to its status key controls these strings, and
// control characters (escape sequences, newlines that would fake other
// hosts' lines, bidi overrides) are shown as Go escapes (\x1b, \n,
// \u202e) instead.
func printable(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1: // not UTF-8
			fmt.Fprintf(&b, `\x%02x`, s[0])
		case r == ' ' || unicode.IsPrint(r):
			b.WriteString(s[:n])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		s = s[n:]
	}
	return b.String()
}

// hostRow is one host in 'fabric status'.
type hostRow struct {
	Host      string        `json:"host"`
	Converged bool          `json:"converged"`
	Wanted    int64         `json:"wantedRevision"`
	Status    fabric.Status `json:"status"`
	Reported  bool          `json:"reported"`
}

func fabricStatusCmd(e *etcdFlags) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "status [--json]",
		Short: "Show every host: converged or not, revision applied, last success, errors",
		Long: `For each host of the fabric: the revision its inputs were last changed at
(WANTED), the revision its agent applied last (APPLIED), whether it is converged
(applied at or after wanted, no errors), where the applied intent came from (etcd, or
cache while etcd was unreachable), the last success and the errors per object.
Exit status 0 when every host is converged, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return e.withSnapshot(c.Context(), func(snap *fabric.Snapshot) error {
				stats := snap.Statuses()
				var rows []hostRow
				all := true
				for _, h := range snap.Hosts() {
					_, want, _ := snap.HostIntent(h)
					s, ok := stats[h]
					r := hostRow{Host: h, Wanted: want, Status: s, Reported: ok, Converged: ok && s.Converged(want)}
					all = all && r.Converged
					rows = append(rows, r)
				}
				out := c.OutOrStdout()
				if asJSON {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					if err := enc.Encode(struct {
						Revision int64     `json:"revision"`
						Hosts    []hostRow `json:"hosts"`
					}{snap.Revision, rows}); err != nil {
						return err
					}
				} else {
					w := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
					fmt.Fprintf(w, "etcd revision %d\n\n", snap.Revision)
					fmt.Fprintln(w, "HOST\tCONVERGED\tWANTED\tAPPLIED\tSOURCE\tLAST SUCCESS\tERRORS")
					for _, r := range rows {
						last := "-"
						if !r.Status.LastSuccess.IsZero() {
							last = r.Status.LastSuccess.Local().Format(time.DateTime)
						}
						conv := "no"
						if r.Converged {
							conv = "yes"
						}
						if !r.Reported {
							conv = "no report"
						}
						fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%d\n", r.Host, conv, r.Wanted, r.Status.AppliedRevision, dash(printable(r.Status.Source)), last, len(r.Status.Errors))
					}
					w.Flush()
					for _, r := range rows {
						for _, oe := range r.Status.Errors {
							fmt.Fprintf(out, "%s: %s: %s\n", r.Host, printable(oe.Object), printable(oe.Error))
						}
					}
				}
				if !all {
					return exitError{exitFailed, errors.New("not every host is converged")}
				}
				return nil
			})
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
