package membership

import (
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"

	"github.com/hearth-sync/hearth/protocol/crypto"
)

// An invite link: hearth:invite/<spaceId>/<inviteId>?name=<space name>#<invite key>.
// The key (after '#') is the invite's private key: whoever holds the link may
// join. It is never logged.
const linkPrefix = "hearth:invite/"

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// Invite is a parsed invite link.
type Invite struct {
	Space  crypto.SpaceID
	Invite crypto.RecordID
	Name   string
	Key    crypto.PrivKey
}

// Link formats an invite link.
func (in Invite) Link() string {
	q := ""
	if in.Name != "" {
		q = "?name=" + url.QueryEscape(in.Name)
	}
	return fmt.Sprintf("%s%s/%s%s#%s", linkPrefix, in.Space, in.Invite, q, strings.ToLower(keyEncoding.EncodeToString(in.Key.Marshal())))
}

// ParseLink reads an invite link, checking every part.
func ParseLink(link string) (Invite, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(link), linkPrefix)
	if !ok {
		return Invite{}, fmt.Errorf("not an invite link (want %s…)", linkPrefix)
	}
	rest, key, ok := strings.Cut(rest, "#")
	if !ok || key == "" {
		return Invite{}, fmt.Errorf("the invite link has no key")
	}
	rest, query, _ := strings.Cut(rest, "?")
	spaceID, inviteID, ok := strings.Cut(rest, "/")
	if !ok {
		return Invite{}, fmt.Errorf("the invite link has no invite id")
	}
	var in Invite
	var err error
	if in.Space, err = crypto.ParseSpaceID(spaceID); err != nil {
		return Invite{}, fmt.Errorf("invite link: %w", err)
	}
	if in.Invite, err = crypto.ParseRecordID(inviteID); err != nil {
		return Invite{}, fmt.Errorf("invite link: %w", err)
	}
	if query != "" {
		vals, err := url.ParseQuery(query)
		if err != nil {
			return Invite{}, fmt.Errorf("invite link: %w", err)
		}
		in.Name = vals.Get("name")
	}
	seed, err := keyEncoding.DecodeString(strings.ToUpper(key))
	if err != nil {
		return Invite{}, fmt.Errorf("invite link: bad key encoding")
	}
	if in.Key, err = crypto.UnmarshalPrivKey(seed); err != nil {
		return Invite{}, fmt.Errorf("invite link: %w", err)
	}
	return in, nil
}
