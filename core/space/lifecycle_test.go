package space

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTargetModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Info
		want Mode
	}{
		{"active with data: kept, loaded on use", Info{AccountStatus: AccountActive, LocalStatus: LocalOK}, ModeUnloaded},
		{"kicked", Info{AccountStatus: AccountRemoved, LocalStatus: LocalOK}, ModeOffloaded},
		{"left", Info{AccountStatus: AccountDeleted, LocalStatus: LocalOK}, ModeOffloaded},
		{"owner deleted it", Info{AccountStatus: AccountActive, LocalStatus: LocalOK, RemoteStatus: RemotePendingDeletion}, ModeOffloaded},
		{"deleted on the node", Info{AccountStatus: AccountActive, LocalStatus: LocalOK, RemoteStatus: RemoteDeleted}, ModeOffloaded},
		{"waiting for approval", Info{AccountStatus: AccountJoining, LocalStatus: LocalOK}, ModeJoining},
		{"freed by the user", Info{AccountStatus: AccountActive, LocalStatus: LocalMissing}, ModeOffloaded},
		{"deletion cancelled", Info{AccountStatus: AccountActive, LocalStatus: LocalOK, RemoteStatus: RemoteOK}, ModeUnloaded},
		{"account space", Info{Account: true, AccountStatus: AccountActive}, ModeLoaded},
	} {
		assert.Equal(t, tc.want, Target(tc.in), tc.name)
	}
}
