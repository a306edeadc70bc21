// Package grpccodec lets gRPC carry gogo/protobuf messages: a codec named
// "proto" that uses the messages' own Marshal/Unmarshal, falling back to the
// standard codec for messages that are not gogo's (the reflection service's
// own requests), and the registration of gogo descriptors in the standard
// registry so that reflection can describe and call gogo services.
//
// It is never registered globally: servers pass grpc.ForceServerCodecV2(Codec())
// and clients grpc.ForceCodecV2(Codec()).
package grpccodec

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"sync"

	gogoproto "github.com/gogo/protobuf/proto"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

type gogoMessage interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

type codec struct{ fallback encoding.CodecV2 }

// Codec returns the gogo-aware codec.
func Codec() encoding.CodecV2 {
	return codec{fallback: encoding.GetCodecV2(grpcproto.Name)}
}

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := gogo(v); ok {
		b, err := m.Marshal()
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.fallback.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := gogo(v); ok {
		return m.Unmarshal(data.Materialize())
	}
	return c.fallback.Unmarshal(data, v)
}

func (codec) Name() string { return grpcproto.Name }

func gogo(v any) (gogoMessage, bool) {
	if _, std := v.(protoreflect.ProtoMessage); std {
		return nil, false
	}
	m, ok := v.(gogoMessage)
	return m, ok
}

var registerMu sync.Mutex // guards the standard registry against concurrent RegisterReflection

// RegisterReflection registers the named gogo files (and, first, the gogo
// files they import) in protoregistry.GlobalFiles. Files already there are
// skipped, so it may be called more than once.
func RegisterReflection(files ...string) error {
	registerMu.Lock()
	defer registerMu.Unlock()
	for _, f := range files {
		if err := registerFile(f); err != nil {
			return err
		}
	}
	return nil
}

func registerFile(name string) error {
	if _, err := protoregistry.GlobalFiles.FindFileByPath(name); err == nil {
		return nil
	}
	gz := gogoproto.FileDescriptor(name)
	if gz == nil {
		return fmt.Errorf("grpccodec: gogo descriptor %q is not registered", name)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return fmt.Errorf("grpccodec: %s: %w", name, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return fmt.Errorf("grpccodec: %s: %w", name, err)
	}
	fdp := new(descriptorpb.FileDescriptorProto)
	if err := proto.Unmarshal(raw, fdp); err != nil {
		return fmt.Errorf("grpccodec: %s: %w", name, err)
	}
	for _, dep := range fdp.GetDependency() {
		if err := registerFile(dep); err != nil {
			return err
		}
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		return fmt.Errorf("grpccodec: %s: %w", name, err)
	}
	return protoregistry.GlobalFiles.RegisterFile(fd)
}
