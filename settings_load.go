package appbackend

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// ConfigSource says where a setting's value came from.
type ConfigSource int

const (
	// SourceGo: the field was set by the program (or nothing set it).
	SourceGo ConfigSource = iota
	// SourceFile: a key of the config file (APPBACKEND_CONFIG, --config).
	SourceFile
	// SourceEnv: an environment variable.
	SourceEnv
	// SourceFlag: a command-line flag.
	SourceFlag
)

func (s ConfigSource) String() string {
	switch s {
	case SourceFile:
		return "file"
	case SourceEnv:
		return "environment"
	case SourceFlag:
		return "flag"
	}
	return "Go"
}

// ConfigError is an invalid setting. It matches errors.Is(err, ErrConfig), and names
// the setting as the user gave it, so that the message points at what to change.
type ConfigError struct {
	// Setting is the setting's environment variable, its identity whatever the
	// source (APPBACKEND_MAX_BODY).
	Setting string
	// Source is where the value came from.
	Source ConfigSource
	// Name is the setting as the user gave it: "--max-body", "APPBACKEND_MAX_BODY", or
	// "FILE: max_body". A Config built in Go is named by its variable.
	Name string
	// Err says what is wrong, worded to follow Name ("\"x\" is not a positive number
	// of bytes"). It may wrap a sentinel such as ErrAdminTokenTooShort.
	Err error

	// msg, when set, is the whole message (a rule about two settings names both).
	msg string
}

func (e *ConfigError) Error() string {
	if e.msg != "" {
		return ErrConfig.Error() + ": " + e.msg
	}
	return ErrConfig.Error() + ": " + e.Name + " " + e.Err.Error()
}

// Is makes every ConfigError an ErrConfig.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

func (e *ConfigError) Unwrap() error { return e.Err }

// origin is where one setting of a loaded Config came from.
type origin struct {
	source ConfigSource
	file   string // with SourceFile
}

// name is the setting env as the user gave it.
func (o origin) name(s setting) string {
	switch o.source {
	case SourceFlag:
		return "--" + s.flag
	case SourceFile:
		return o.file + ": " + s.fileKey()
	}
	return s.env
}

// nameOf names the setting env as the user gave it (its variable when c was built in
// Go).
func (c Config) nameOf(env string) string {
	s, _ := settingByEnv(env)
	return c.origins[env].name(s)
}

// settingError is the ConfigError of setting env in c.
func (c Config) settingError(env string, err error) *ConfigError {
	s, _ := settingByEnv(env)
	o := c.origins[env]
	return &ConfigError{Setting: env, Source: o.source, Name: o.name(s), Err: err}
}

// crossError is a ConfigError about env that names other settings in its message;
// text has one %s per name in names (each formatted with nameOf).
func (c Config) crossError(env string, err error, text string, names ...string) *ConfigError {
	e := c.settingError(env, err)
	args := make([]any, len(names))
	for i, n := range names {
		args[i] = c.nameOf(n)
	}
	e.msg = fmt.Sprintf(text, args...)
	return e
}

// ConfigFlags are the settings' flags registered on a flag.FlagSet (serve's). Each
// flag's help names its variable and prints the default from the settings table.
type ConfigFlags struct {
	fs *flag.FlagSet
}

// RegisterConfigFlags defines every setting's flag on fs; a flag fs already has (the
// CLI's --config) is kept and read as the setting's.
func RegisterConfigFlags(fs *flag.FlagSet) *ConfigFlags {
	for _, s := range settings() {
		if fs.Lookup(s.flag) != nil {
			continue
		}
		usage := flagUsage(s)
		// The flag package's own types, so that --help shows "duration", "int", …;
		// the value is read back as text and parsed by the table like any other.
		switch s.kind {
		case kindBool:
			fs.Bool(s.flag, false, usage)
		case kindDuration:
			fs.Duration(s.flag, 0, usage)
		case kindInt:
			fs.Int(s.flag, 0, usage)
		case kindBytes:
			fs.Int64(s.flag, 0, usage)
		default:
			fs.String(s.flag, "", usage)
		}
	}
	return &ConfigFlags{fs: fs}
}

// flagUsage is a setting's --help line: its meaning, its variable and its default.
func flagUsage(s setting) string {
	u := plainText(s.help) + " (" + s.env
	switch {
	case s.def == "" || s.def == "none":
	case strings.HasPrefix(s.def, "required"):
		u += "; " + plainText(s.def)
	default:
		u += "; default " + plainText(s.def)
	}
	return u + ")"
}

// plainText turns the table's Markdown into --help text: no backquotes (which the flag
// package would take for the argument's name), links as their text.
func plainText(md string) string {
	var b strings.Builder
	for i := 0; i < len(md); i++ {
		switch md[i] {
		case '`':
			continue
		case '[':
			if end := strings.Index(md[i:], "]("); end > 0 {
				if close := strings.IndexByte(md[i+end:], ')'); close > 0 {
					b.WriteString(md[i+1 : i+end])
					i += end + close
					continue
				}
			}
		}
		b.WriteByte(md[i])
	}
	return b.String()
}

// given are the flags set on the command line, with their values as text.
func (f *ConfigFlags) given() map[string]string {
	out := map[string]string{}
	if f == nil {
		return out
	}
	f.fs.Visit(func(fl *flag.Flag) { out[fl.Name] = fl.Value.String() })
	return out
}

// Load is the configuration of the flags fs parsed, over getenv, over the config file.
// getenv may be one that LayerConfigFile returned (the file is then not read again,
// and file gives its schedules).
func (f *ConfigFlags) Load(getenv func(string) string, file *ConfigFile) (Config, error) {
	return loadConfig(f.given(), getenv, file)
}

// LoadConfig is the configuration of args (serve's flags: every setting has one; no
// positional argument), over the environment that getenv reads, over the TOML file
// that --config or APPBACKEND_CONFIG names: file < environment < flags. An empty
// value is no value at every layer. Errors are *ConfigError for a setting (or wrap
// ErrConfig for a flag that does not parse), naming the setting as it was given.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("appbackend", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := RegisterConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("%w: unexpected argument %q", ErrConfig, fs.Arg(0))
	}
	return flags.Load(getenv, nil)
}

// layered is the answer of a getenv that LayerConfigFile returned to this name: the
// loader then knows which values came from the file (layerFromKey) without reading it
// again. The NUL keeps it from ever being a real variable.
const (
	layeredKey   = "\x00appbackend:layered"
	layerFromKey = "\x00appbackend:from-file:"
)

func loadConfig(flags map[string]string, getenv func(string) string, file *ConfigFile) (Config, error) {
	var cfg Config
	cfg.origins = map[string]origin{}
	lookupFile := func(string) (string, bool) { return "", false }
	var path string
	if getenv(layeredKey) != "" {
		path = strings.TrimSpace(getenv("APPBACKEND_CONFIG"))
		env := getenv
		lookupFile = func(name string) (string, bool) {
			if env(layerFromKey+name) != "" {
				return env(name), true
			}
			return "", false
		}
		// Answers from the file are the file's below, not the environment's.
		getenv = func(name string) string {
			if env(layerFromKey+name) != "" {
				return ""
			}
			return env(name)
		}
	} else {
		if p, ok := flags["config"]; ok && strings.TrimSpace(p) != "" {
			path = strings.TrimSpace(p)
			cfg.origins["APPBACKEND_CONFIG"] = origin{source: SourceFlag}
		} else if path = strings.TrimSpace(getenv("APPBACKEND_CONFIG")); path != "" {
			cfg.origins["APPBACKEND_CONFIG"] = origin{source: SourceEnv}
		}
		if path != "" {
			values, f, err := readConfigFile(path)
			if err != nil {
				return cfg, cfg.configFileError(path, err)
			}
			file = f
			lookupFile = func(name string) (string, bool) {
				v, ok := values[name]
				return v, ok
			}
		}
	}
	for _, s := range settings() {
		var raw string
		var o origin
		if v, ok := flags[s.flag]; ok && v != "" {
			raw, o = v, origin{source: SourceFlag}
		} else if v := getenv(s.env); v != "" {
			raw, o = v, origin{source: SourceEnv}
		} else if v, ok := lookupFile(s.env); ok && v != "" {
			raw, o = v, origin{source: SourceFile, file: path}
		} else {
			continue
		}
		cfg.origins[s.env] = o
		if err := s.set(&cfg, raw); err != nil {
			return cfg, cfg.settingError(s.env, err)
		}
	}
	if file != nil {
		cfg.Gateway.Schedules = file.Schedules
	}
	var err error
	if cfg.Tracing, err = TracingFromEnv(getenv); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// readConfigFile reads and parses the TOML file at path. A file that cannot be read
// is the fault of the setting that named it; one that does not parse, of the file
// (configParseError).
func readConfigFile(path string) (map[string]string, *ConfigFile, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, nil, fmt.Errorf("%q cannot be read: %w", path, err)
	}
	values, file, err := parseConfigFile(string(text))
	if err != nil {
		return nil, nil, configParseError{err}
	}
	return values, file, nil
}

type configParseError struct{ error }

func (e configParseError) Unwrap() error { return e.error }

// configFileError is the ConfigError of reading the config file at path.
func (c Config) configFileError(path string, err error) *ConfigError {
	e := c.settingError("APPBACKEND_CONFIG", err)
	if _, ok := err.(configParseError); ok {
		e.msg = path + ": " + err.Error()
	}
	return e
}
