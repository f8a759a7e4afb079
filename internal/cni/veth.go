package cni

import (
	"fmt"

	"github.com/evpnhost/evpnhost/internal/attach"
)

// The host end of a container's veth is named from a hash of its
// container ID and ifname (attach.HostIfName, 8 hex digits). Those
// collide (about 1% among 10,000 containers), so a name is only ever
// taken over, or deleted, when the attachment records say it is not
// another container's. ADD, DEL and GC run under the store's lock, so a
// link no record names is the leftover of an ADD that died between
// creating the veth and recording it.

// recordedBy is the ID of the attachment whose record names the host
// interface name, or "".
func recordedBy(recs []attach.Attachment, name string) string {
	for _, r := range recs {
		if r.Interface == name {
			return r.ID
		}
	}
	return ""
}

// pickHostIfName chooses the host end's name for attachment id: the
// name it already has when it is recorded (a repeated ADD), else the
// 8-digit name, else, when another attachment holds that, the 12-digit
// one. An existing link with the returned name may be deleted: it is
// this attachment's, or nobody's.
func pickHostIfName(recs []attach.Attachment, id, containerID, ifName string) (string, error) {
	for _, r := range recs {
		if r.ID == id && r.Interface != "" {
			return r.Interface, nil
		}
	}
	short := attach.HostIfName(containerID, ifName)
	if owner := recordedBy(recs, short); owner == "" || owner == id {
		return short, nil
	}
	long := attach.HostIfNameLong(containerID, ifName)
	if owner := recordedBy(recs, long); owner == "" || owner == id {
		return long, nil
	}
	return "", fmt.Errorf("the host interface names %s and %s are both held by other attachments (%s, %s)",
		short, long, recordedBy(recs, short), recordedBy(recs, long))
}

// orphanNames are the host interface names of (containerID, ifName) that
// DEL may delete when the attachment has no record: those no other
// attachment's record names.
func orphanNames(recs []attach.Attachment, containerID, ifName string) []string {
	var out []string
	for _, n := range []string{attach.HostIfName(containerID, ifName), attach.HostIfNameLong(containerID, ifName)} {
		if recordedBy(recs, n) == "" {
			out = append(out, n)
		}
	}
	return out
}
