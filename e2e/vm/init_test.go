// Package vm holds the test VM's scripts; this test checks stage 1's mount
// order without booting the VM.
package vm

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestInitMountsRepoLast: init.sh mounts tmpfs over /root, /tmp, /var/lib
// and more; a repository cloned under one of them (git clone ~/evpnhost as
// root) was hidden when its mount came first, and stage 2 failed with
// "guest.sh: No such file or directory". The repository must be mounted
// after every tmpfs, and its directory made again on the tmpfs.
func TestInitMountsRepoLast(t *testing.T) {
	b, err := os.ReadFile("init.sh")
	if err != nil {
		t.Fatal(err)
	}
	forRe := regexp.MustCompile(`^for d in (.*); do$`)
	var loop []string
	tmpfsAt := map[string]int{} // target -> line
	repoAt, mkdirAt := -1, -1
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		if m := forRe.FindStringSubmatch(line); m != nil {
			loop = strings.Fields(m[1])
			continue
		}
		if line == "done" {
			loop = nil
			continue
		}
		if strings.HasPrefix(line, "mount -t tmpfs") && strings.Contains(line, `"$r$d"`) {
			for _, d := range loop {
				tmpfsAt[d] = i
			}
		}
		if strings.HasPrefix(line, "mount --move /repo ") {
			repoAt = i
		}
		if strings.HasPrefix(line, `mkdir -p "$r$repo"`) {
			mkdirAt = i
		}
	}
	if repoAt < 0 {
		t.Fatal("no `mount --move /repo` in init.sh")
	}
	for _, d := range []string{"/root", "/tmp", "/var/lib", "/var/tmp", "/run"} {
		at, ok := tmpfsAt[d]
		if !ok {
			t.Errorf("no tmpfs mount of %s found (the test's parser is out of date?)", d)
			continue
		}
		if at > repoAt {
			t.Errorf("tmpfs on %s (line %d) is mounted after the repository (line %d): a clone under %s is hidden", d, at+1, repoAt+1, d)
		}
	}
	if mkdirAt < 0 || mkdirAt > repoAt {
		t.Errorf("the repository's directory is not made again before its mount (mkdir line %d, mount line %d)", mkdirAt+1, repoAt+1)
	}
}
