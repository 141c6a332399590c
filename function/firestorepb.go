package function

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Firestore delivers document events to Cloud Functions as protobuf
// (google.events.cloud.firestore.v1.DocumentEventData) unless the trigger
// asks for JSON. Google's generated Go types for it
// (github.com/googleapis/google-cloudevents-go) are not available from
// the module proxy, so the few messages involved are read here with
// protowire. Field numbers are those of the Firestore v1 protos:
//
//	DocumentEventData { Document value = 1; Document old_value = 2; }
//	Document  { string name = 1; map<string, Value> fields = 2; }
//	Value     { bool boolean_value = 1; int64 integer_value = 2; double double_value = 3;
//	            string reference_value = 5; MapValue map_value = 6; LatLng geo_point_value = 8;
//	            ArrayValue array_value = 9; Timestamp timestamp_value = 10; NullValue null_value = 11;
//	            string string_value = 17; bytes bytes_value = 18; }
//	ArrayValue { repeated Value values = 1; }   MapValue { map<string, Value> fields = 1; }
//	Timestamp  { int64 seconds = 1; int32 nanos = 2; }   LatLng { double latitude = 1; double longitude = 2; }

var errProto = errors.New("malformed protobuf")

// pbFields calls fn for each field of the message b.
func pbFields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, u uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errProto
		}
		b = b[n:]
		var v []byte
		var u uint64
		switch typ {
		case protowire.VarintType:
			u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			u, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var u32 uint32
			u32, n = protowire.ConsumeFixed32(b)
			u = uint64(u32)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errProto
		}
		b = b[n:]
		if err := fn(num, typ, v, u); err != nil {
			return err
		}
	}
	return nil
}

// firestoreProtoChange decodes DocumentEventData into the old and new
// documents' fields (nil when absent) and reports whether each was present.
func firestoreProtoDocs(b []byte) (old, cur map[string]any, err error) {
	err = pbFields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType || (num != 1 && num != 2) {
			return nil
		}
		fields, name, err := pbDocument(v)
		if err != nil || name == "" {
			return err
		}
		if num == 1 {
			cur = fields
		} else {
			old = fields
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("function: decoding the Firestore event (protobuf): %w", err)
	}
	return old, cur, nil
}

func pbDocument(b []byte) (map[string]any, string, error) {
	fields := map[string]any{}
	name := ""
	err := pbFields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			name = string(v)
		case num == 2 && typ == protowire.BytesType:
			return pbMapEntry(v, fields)
		}
		return nil
	})
	return fields, name, err
}

func pbMapEntry(b []byte, into map[string]any) error {
	var key string
	var val any
	err := pbFields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			key = string(v)
		case 2:
			var err error
			val, err = pbValue(v)
			return err
		}
		return nil
	})
	into[key] = val
	return err
}

func pbValue(b []byte) (any, error) {
	var out any
	err := pbFields(b, func(num protowire.Number, typ protowire.Type, v []byte, u uint64) error {
		var err error
		switch num {
		case 1:
			out = u != 0
		case 2:
			out = json.Number(strconv.FormatInt(int64(u), 10))
		case 3:
			out = math.Float64frombits(u)
		case 5, 17:
			out = string(v)
		case 18:
			out = append([]byte{}, v...)
		case 11:
			out = nil
		case 10:
			out, err = pbTimestamp(v)
		case 8:
			var lat, lng float64
			err = pbFields(v, func(n protowire.Number, _ protowire.Type, _ []byte, u uint64) error {
				if n == 1 {
					lat = math.Float64frombits(u)
				} else if n == 2 {
					lng = math.Float64frombits(u)
				}
				return nil
			})
			out = map[string]any{"latitude": lat, "longitude": lng}
		case 9:
			arr := []any{}
			err = pbFields(v, func(n protowire.Number, t protowire.Type, e []byte, _ uint64) error {
				if n != 1 || t != protowire.BytesType {
					return nil
				}
				x, err := pbValue(e)
				arr = append(arr, x)
				return err
			})
			out = arr
		case 6:
			m := map[string]any{}
			err = pbFields(v, func(n protowire.Number, t protowire.Type, e []byte, _ uint64) error {
				if n != 1 || t != protowire.BytesType {
					return nil
				}
				return pbMapEntry(e, m)
			})
			out = m
		}
		return err
	})
	return out, err
}

func pbTimestamp(b []byte) (time.Time, error) {
	var sec, nanos int64
	err := pbFields(b, func(num protowire.Number, _ protowire.Type, _ []byte, u uint64) error {
		switch num {
		case 1:
			sec = int64(u)
		case 2:
			nanos = int64(int32(u))
		}
		return nil
	})
	return time.Unix(sec, nanos).UTC(), err
}
