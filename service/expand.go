package service

import (
	"fmt"
	"reflect"
	"strings"
)

// Variables: a string value in the file may use ${env:NAME}, which is the
// environment variable NAME (an error when it is unset), or
// ${env:NAME:-default}. $$ is a literal $. Names of fields and map keys
// are never expanded. Secret values do not belong in the environment of a
// CI job that writes them into a function's plain env: use secrets.

// expand returns s with its variables replaced.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i += 2
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("%q: a ${ with no closing }: write ${env:NAME}, or $$ for a literal $", s)
			}
			ref := s[i+2 : i+end]
			name, def, hasDef := strings.Cut(strings.TrimPrefix(ref, "env:"), ":-")
			if !strings.HasPrefix(ref, "env:") || !envNameRE.MatchString(name) {
				return "", fmt.Errorf("${%s}: write ${env:NAME} or ${env:NAME:-default}", ref)
			}
			v, ok := lookup(name)
			if !ok || v == "" && hasDef {
				if !hasDef {
					return "", fmt.Errorf("${env:%s}: the environment variable %s is not set: set it, or give a default with ${env:%s:-value}", name, name, name)
				}
				v = def
			}
			b.WriteString(v)
			i += end + 1
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String(), nil
}

// expandAll expands the variables in every string v holds, reporting
// problems at their field path.
func expandAll(c *checker, v reflect.Value, path string, lookup func(string) (string, bool)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			expandAll(c, v.Elem(), path, lookup)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			expandAll(c, v.Field(i), join(path, name), lookup)
		}
	case reflect.Slice:
		for i := range v.Len() {
			expandAll(c, v.Index(i), fmt.Sprintf("%s[%d]", path, i), lookup)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := v.MapIndex(k)
			p := join(path, fmt.Sprint(k.Interface()))
			if e.Kind() == reflect.String {
				s, err := expand(e.String(), lookup)
				if err != nil {
					c.errorf(p, "%v", err)
					s = "" // checked no further
				}
				v.SetMapIndex(k, reflect.ValueOf(s).Convert(e.Type()))
				continue
			}
			expandAll(c, e, p, lookup)
		}
	case reflect.String:
		s, err := expand(v.String(), lookup)
		if err != nil {
			c.errorf(path, "%v", err)
			s = "" // checked no further
		}
		v.SetString(s)
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
