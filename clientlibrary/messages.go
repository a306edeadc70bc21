package clientlibrary

import (
	"regexp"
	"strings"

	"github.com/hearth-sync/hearth/internal/errkind"
)

// The text of an API error is for people: it names what failed and why,
// without the internal prefixes that sentinel errors carry ("crypto: invalid
// input", "acl: not permitted", "spaceindex: …") and without the transport's
// status text ("rpc error: code = … desc = …") of errors the node returned.
// The edge that shows it (the CLI) adds the operation's name; the
// description never starts with one.

// internalPrefix matches a package prefix of a sentinel error at the start
// of the text or after another prefix's ": ".
var internalPrefix = regexp.MustCompile(`(^|: )(crypto|acl|objtree|signed|space|handshake|diff|spaceindex|spacestore|syncclient|lease|files|membership): `)

// sentinelWords are sentinel texts that say nothing once their package is
// gone and a more precise reason follows them.
var sentinelWords = []string{
	"invalid input: ", "invalid record: ", "not permitted: ", "invalid change: ", "invalid envelope: ",
	"invalid header: ", "author may not write: ",
}

// grpcStatus matches the text of a gRPC status error.
var grpcStatus = regexp.MustCompile(`rpc error: code = (\w+) desc = `)

// describe is err's text for people.
func describe(err error) string {
	return cleanMessage(errkind.Message(err))
}

// cleanMessage strips internal prefixes and transport text from msg.
func cleanMessage(msg string) string {
	msg = grpcStatus.ReplaceAllString(msg, "the node says: ")
	for {
		next := internalPrefix.ReplaceAllString(msg, "$1")
		for _, w := range sentinelWords {
			next = strings.ReplaceAll(next, ": "+w, ": ")
			next = strings.TrimPrefix(next, w)
		}
		if next == msg {
			break
		}
		msg = next
	}
	return msg
}
