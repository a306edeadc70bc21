//go:build tools

package mobile

// gobind (make mobile-check, the JNI test) loads golang.org/x/mobile/bind
// from this module; importing it here keeps the requirement in go.mod.
import _ "golang.org/x/mobile/bind"
