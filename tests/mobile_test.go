package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMobileJavaBinding proves the gomobile facade with the client an
// Android app uses: the Java binding gobind generates (javaBinding), on the
// host JVM. tests/java/hearthcheck.BindingCheck starts Hearth, creates accounts, receives their events
// through the handler in command order, creates a space and an object, and
// stops. The CLI then reads the
// data dir the Java program wrote.
func TestMobileJavaBinding(t *testing.T) {
	jb := javaBinding(t)
	data := t.TempDir()
	stdout, stderr, code := run(t, jb.work, nil, jb.java(), jb.javaArgs("hearthcheck.BindingCheck", data)...)
	t.Logf("java:\n%s", stdout)
	require.Equalf(t, 0, code, "the Java program failed:\n%s", lastLines(stderr, 60))
	// The facade logged the exceptions the Java callbacks threw on purpose.
	assert.Contains(t, stderr, "thrown on purpose by the test's event handler")
	assert.Contains(t, stderr, "thrown on purpose by the test's async callback")

	var res struct {
		Alice, Bob    string
		Events        int
		Space, Object string
	}
	decodeResult(t, stdout, &res)
	assert.Equal(t, 5, res.Events)

	// The data dir the binding wrote is an ordinary one: the daemon serves it.
	d := startServe(t, data, "--local-only")
	assert.ElementsMatch(t, []string{res.Alice, res.Bob}, accountIDs(t, data))
	assert.Equal(t, res.Alice, cliJSON(t, data, "account", "show")["accountId"])
	requireObject(t, data, res.Space, res.Object, "note", "Hello from Java")
	assert.Equal(t, 0, d.stop(syscall.SIGTERM))
}

// jvmBinding is the Java binding built for the host JVM: the JNI library,
// and the classes of the generated binding, of the messages (protoc
// --java_out over pb/*.proto, compiled against Debian's protobuf-java) and
// of tests/java.
type jvmBinding struct {
	javaHome string
	lib      string // libgojni.so
	classes  string
	work     string
}

func (jb jvmBinding) java() string { return filepath.Join(jb.javaHome, "bin", "java") }

// classpath is the classes and protobuf-java.
func (jb jvmBinding) classpath() string {
	return jb.classes + string(os.PathListSeparator) + protobufJar
}

// javaArgs runs main with args on the host JVM, the binding loadable.
func (jb jvmBinding) javaArgs(main string, args ...string) []string {
	return append([]string{"-Djava.library.path=" + filepath.Dir(jb.lib), "-cp", jb.classpath(), main}, args...)
}

// protobufJar is Debian's protobuf-java (libprotobuf-java).
const protobufJar = "/usr/share/java/protobuf.jar"

var (
	jvmOnce  sync.Once
	jvmBuilt jvmBinding
	jvmErr   string // why the build failed, for every test that needs it
	jvmSkip  string // why it cannot be built here
)

// javaBinding builds the binding once per test run (the JNI library and
// javac take a minute) under the directory TestMain removes.
func javaBinding(t testing.TB) jvmBinding {
	t.Helper()
	requireLinux(t)
	jvmOnce.Do(func() {
		jvmErr = "building the Java binding failed in the first test that needed it (see its log)" // if it stops t
		jvmBuilt, jvmSkip, jvmErr = buildJavaBinding(t)
	})
	if jvmSkip != "" {
		missingTool(t, "%s", jvmSkip)
	}
	if jvmErr != "" {
		t.Fatal(jvmErr)
	}
	return jvmBuilt
}

// buildJavaBinding generates, builds and compiles the binding. scripts/
// mobile-check.sh generates the bindings (Go, Java, Objective-C) and fails
// on any API gobind cannot bind; the Go side is built as a Linux JNI library
// (gobind's *_android sources renamed, the JDK's JNI headers, a stub
// android/log.h that logs to stderr, no -llog); the generated Java is
// compiled with stubs of the few Android classes it and the docs' snippets
// use (tests/java/android, androidx).
func buildJavaBinding(t testing.TB) (jb jvmBinding, skip, fail string) {
	root := repoRoot(t)
	ensureDeps(t, "jdk")
	home, why := jdkHome()
	if why != "" {
		return jb, why, ""
	}
	protoc, err := exec.LookPath("protoc")
	if err != nil || !fileExists(protobufJar) {
		return jb, "no protoc or " + protobufJar + " (apt-get install protobuf-compiler libprotobuf-java)", ""
	}
	work, err := os.MkdirTemp(filepath.Dir(hearthBin), "jvm")
	if err != nil {
		return jb, "", err.Error()
	}
	jb = jvmBinding{javaHome: home, work: work, classes: filepath.Join(work, "classes")}
	gen := filepath.Join(work, "gobind")
	if _, errOut, code := run(t, root, nil, "bash", filepath.Join(root, "scripts", "mobile-check.sh"), "--outdir", gen); code != 0 {
		return jb, "", "make mobile-check failed:\n" + errOut
	}
	jb.lib = buildJNILibrary(t, root, filepath.Join(gen, "src", "gobind"), home, work)

	msgs := filepath.Join(work, "messages")
	if err := os.MkdirAll(msgs, 0o755); err != nil {
		return jb, "", err.Error()
	}
	protos, _ := filepath.Glob(filepath.Join(root, "pb", "*.proto"))
	if _, errOut, code := run(t, root, nil, protoc, append([]string{"-I", filepath.Join(root, "pb"), "--java_out=" + msgs}, protos...)...); code != 0 {
		return jb, "", "protoc --java_out:\n" + errOut
	}
	sources := javaSources(t, filepath.Join(gen, "java"), msgs, filepath.Join(root, "tests", "java"))
	args := append([]string{"-nowarn", "-d", jb.classes, "-encoding", "UTF-8", "-cp", protobufJar}, sources...)
	if _, errOut, code := run(t, work, nil, filepath.Join(home, "bin", "javac"), args...); code != 0 {
		return jb, "", "javac:\n" + errOut
	}
	return jb, "", ""
}

// jdkHome returns the home of the JDK whose javac is on PATH (or
// $JAVA_HOME), or why there is none.
func jdkHome() (home, missing string) {
	var candidates []string
	if h := os.Getenv("JAVA_HOME"); h != "" {
		candidates = append(candidates, h)
	}
	if javac, err := exec.LookPath("javac"); err == nil {
		if real, err := filepath.EvalSymlinks(javac); err == nil {
			candidates = append(candidates, filepath.Dir(filepath.Dir(real)))
		}
	}
	for _, home := range candidates {
		if fileExists(filepath.Join(home, "include", "jni.h")) && fileExists(filepath.Join(home, "bin", "java")) {
			return home, ""
		}
	}
	return "", "no JDK (javac and include/jni.h): the Java binding tests need one (apt-get install default-jdk-headless)"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// llogDirective is gobind's link flag for Android's liblog, absent on a host.
var llogDirective = regexp.MustCompile(`(?m)^//\s*#cgo LDFLAGS: -llog\s*$`)

// buildJNILibrary builds gobind's Go side (genDir) as work/lib/libgojni.so,
// the library go.Seq loads. The sources go into a scratch module that
// requires this one through a replace directive, as gomobile does.
func buildJNILibrary(t testing.TB, root, genDir, javaHome, work string) string {
	t.Helper()
	mod := filepath.Join(work, "jni")
	require.NoError(t, os.MkdirAll(mod, 0o755))
	entries, err := os.ReadDir(genDir)
	require.NoError(t, err)
	for _, e := range entries {
		name := e.Name()
		b, err := os.ReadFile(filepath.Join(genDir, name))
		require.NoError(t, err)
		// *_android.go and *_android.c build only for GOOS=android: rename
		// them so they build for linux. Headers keep their names (#include).
		if ext := filepath.Ext(name); ext == ".go" || ext == ".c" {
			name = strings.Replace(name, "_android"+ext, "_jni"+ext, 1)
		}
		if filepath.Ext(name) == ".go" {
			b = llogDirective.ReplaceAll(b, nil)
		}
		require.NoError(t, os.WriteFile(filepath.Join(mod, name), b, 0o644))
	}

	scratchModule(t, root, mod, "hearthjni")

	lib := filepath.Join(work, "lib", "libgojni.so")
	cflags := strings.Join([]string{
		"-D__GOBIND_ANDROID__", // what `#cgo android CFLAGS` sets on Android
		// OpenJDK's AttachCurrentThread takes void**, Android's JNIEnv**.
		"-Wno-incompatible-pointer-types",
		"-I" + filepath.Join(root, "tests", "java", "stub"),
		"-I" + filepath.Join(javaHome, "include"),
		"-I" + filepath.Join(javaHome, "include", "linux"),
	}, " ")
	_, errOut, code := run(t, mod, []string{"CGO_ENABLED=1", "CGO_CFLAGS=" + cflags, "GOWORK=off", "GOFLAGS=-mod=mod"},
		"go", "build", "-buildmode=c-shared", "-o", lib, ".")
	require.Equalf(t, 0, code, "building the JNI library:\n%s", errOut)
	return lib
}

// javaSources lists the .java files under dirs.
func javaSources(t testing.TB, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".java") {
				out = append(out, path)
			}
			return err
		}))
	}
	require.NotEmpty(t, out)
	return out
}
