// Command interop checks scout-audit's checkpoints and proofs with Go's
// golang.org/x/mod/sumdb/note and sumdb/tlog, as a third party would
// (`cargo xtask interop`, docs/integrity.md). No network, no module
// download: it builds in GOPATH mode against Debian's
// golang-golang-x-mod-dev.
//
// Usage: interop KEY CHECKPOINT-FILE PROOF-FILE...
//
// KEY is the verification key `seal init` printed. The checkpoint file is
// the seal's signed note, then the certificates of epochs 1..N, one blank
// line between notes. Each proof file is a `scout-audit proof v1` header
// paragraph (an inclusion proof, checked with tlog.CheckRecord against
// its own checkpoint) or a `scout-audit consistency v1` one (a consistency
// proof from CHECKPOINT-FILE, checked with tlog.CheckTree; its checkpoint
// carries only the certificates after CHECKPOINT-FILE's epoch), a blank
// line, then a checkpoint file. It prints one line per file checked and
// exits 1 on the first failure.
package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// checkpoint is a tree's origin, size and root, opened through the chain.
type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
	epoch  int
}

// notes splits a checkpoint file into its notes: paragraphs alternate a
// note's text and its signature lines.
func notes(text string) ([]string, error) {
	body := strings.TrimSuffix(text, "\n")
	if body == text {
		return nil, fmt.Errorf("does not end in a newline")
	}
	paras := strings.Split(body, "\n\n")
	if len(paras)%2 != 0 || len(paras) == 0 {
		return nil, fmt.Errorf("is not notes separated by blank lines")
	}
	var out []string
	for i := 0; i < len(paras); i += 2 {
		out = append(out, paras[i]+"\n\n"+paras[i+1]+"\n")
	}
	return out, nil
}

// chain is an epoch's key, proven from the verification key.
type chain struct {
	v     note.Verifier
	epoch int
}

// open checks the certificates from the verification key on, then the
// checkpoint note with the last epoch's key, and parses the checkpoint.
func open(key string, file string) (checkpoint, error) {
	v, err := note.NewVerifier(key)
	if err != nil {
		return checkpoint{}, fmt.Errorf("the verification key: %v", err)
	}
	cp, _, err := openFrom(chain{v, 0}, file)
	return cp, err
}

// openFrom checks a checkpoint file's certificates from an epoch already
// proven (they certify the epochs after it), then its note with the last
// epoch's key; the checkpoint and the chain's last epoch.
func openFrom(from chain, file string) (checkpoint, chain, error) {
	cp, c := checkpoint{}, from
	ns, err := notes(file)
	if err != nil {
		return cp, c, err
	}
	for _, cert := range ns[1:] {
		c.epoch++
		n, err := note.Open([]byte(cert), note.VerifierList(c.v))
		if err != nil {
			return cp, c, fmt.Errorf("epoch %d certificate: %v", c.epoch, err)
		}
		lines := strings.Split(n.Text, "\n")
		if len(lines) != 4 || lines[0] != fmt.Sprintf("scout-audit epoch %d", c.epoch) {
			return cp, c, fmt.Errorf("epoch %d certificate: not a certificate of that epoch", c.epoch)
		}
		if c.v, err = note.NewVerifier(lines[1]); err != nil {
			return cp, c, fmt.Errorf("epoch %d key: %v", c.epoch, err)
		}
	}
	v := c.v
	n, err := note.Open([]byte(ns[0]), note.VerifierList(v))
	if err != nil {
		return cp, c, fmt.Errorf("the checkpoint: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 4 {
		return cp, c, fmt.Errorf("the checkpoint has fewer than 4 lines")
	}
	cp.origin = lines[0]
	if cp.size, err = strconv.ParseInt(lines[1], 10, 64); err != nil {
		return cp, c, fmt.Errorf("the checkpoint's size: %v", err)
	}
	if cp.root, err = tlog.ParseHash(lines[2]); err != nil {
		return cp, c, fmt.Errorf("the checkpoint's root: %v", err)
	}
	cp.epoch = c.epoch
	if lines[3] != fmt.Sprintf("epoch %d", cp.epoch) {
		return cp, c, fmt.Errorf("the checkpoint is not signed by epoch %d's key", cp.epoch)
	}
	return cp, c, nil
}

// field returns the value of a `name value` header line.
func field(line, name string) (string, error) {
	v := strings.TrimPrefix(line, name+" ")
	if v == line {
		return "", fmt.Errorf("no %s line where it belongs", name)
	}
	return v, nil
}

// prove checks one proof file: its checkpoint, then its inclusion proof.
func prove(key string, text string) (string, error) {
	at := strings.Index(text, "\n\n")
	if at < 0 {
		return "", fmt.Errorf("no blank line after the header")
	}
	head := strings.Split(text[:at], "\n")
	if len(head) < 6 || head[0] != "scout-audit proof v1" {
		return "", fmt.Errorf("not a scout-audit proof v1")
	}
	record, err := field(head[1], "record")
	if err != nil {
		return "", err
	}
	var nums [2]int64
	for i, name := range []string{"index", "size"} {
		v, err := field(head[2+i], name)
		if err != nil {
			return "", err
		}
		if nums[i], err = strconv.ParseInt(v, 10, 64); err != nil {
			return "", fmt.Errorf("%s: %v", name, err)
		}
	}
	var line []byte
	if v, err := field(head[5], "line"); err == nil {
		line = []byte(v)
	} else if v, err := field(head[5], "line-base64"); err == nil {
		if line, err = base64.StdEncoding.DecodeString(v); err != nil {
			return "", fmt.Errorf("line-base64: %v", err)
		}
	} else {
		return "", fmt.Errorf("no line where it belongs")
	}
	var proof tlog.RecordProof
	for _, h := range head[6:] {
		hash, err := tlog.ParseHash(h)
		if err != nil {
			return "", fmt.Errorf("proof hash %q: %v", h, err)
		}
		proof = append(proof, hash)
	}
	cp, err := open(key, text[at+2:])
	if err != nil {
		return "", err
	}
	if cp.size != nums[1] {
		return "", fmt.Errorf("size %d is not the checkpoint's %d", nums[1], cp.size)
	}
	if err := tlog.CheckRecord(proof, cp.size, cp.root, nums[0], tlog.RecordHash(line)); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s is record %d of %d", record, nums[0], cp.size), nil
}

// consistent checks one consistency proof file from the old checkpoint
// (opened through the chain up to old's epoch): its checkpoint's
// certificates continue that chain, then tlog.CheckTree joins the roots.
func consistent(old checkpoint, from chain, text string) (string, error) {
	at := strings.Index(text, "\n\n")
	if at < 0 {
		return "", fmt.Errorf("no blank line after the header")
	}
	head := strings.Split(text[:at], "\n")
	if len(head) < 5 || head[0] != "scout-audit consistency v1" {
		return "", fmt.Errorf("not a scout-audit consistency v1")
	}
	var sizes [2]int64
	var roots [2]tlog.Hash
	for i, name := range []string{"old-", ""} {
		v, err := field(head[1+2*i], name+"size")
		if err != nil {
			return "", err
		}
		if sizes[i], err = strconv.ParseInt(v, 10, 64); err != nil {
			return "", fmt.Errorf("%ssize: %v", name, err)
		}
		if v, err = field(head[2+2*i], name+"root"); err != nil {
			return "", err
		}
		if roots[i], err = tlog.ParseHash(v); err != nil {
			return "", fmt.Errorf("%sroot: %v", name, err)
		}
	}
	var proof tlog.TreeProof
	for _, h := range head[5:] {
		hash, err := tlog.ParseHash(h)
		if err != nil {
			return "", fmt.Errorf("proof hash %q: %v", h, err)
		}
		proof = append(proof, hash)
	}
	if sizes[0] != old.size || roots[0] != old.root {
		return "", fmt.Errorf("it does not start from the old checkpoint")
	}
	cp, _, err := openFrom(from, text[at+2:])
	if err != nil {
		return "", err
	}
	if cp.origin != old.origin || cp.size != sizes[1] || cp.root != roots[1] {
		return "", fmt.Errorf("its size and root are not its checkpoint's")
	}
	if err := tlog.CheckTree(proof, cp.size, cp.root, old.size, old.root); err != nil {
		return "", err
	}
	return fmt.Sprintf("the tree of %d (epoch %d) extends the tree of %d (epoch %d)",
		cp.size, cp.epoch, old.size, old.epoch), nil
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: interop KEY CHECKPOINT-FILE PROOF-FILE...")
		os.Exit(2)
	}
	key := os.Args[1]
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return string(b)
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		fmt.Printf("the verification key: %v\n", err)
		os.Exit(1)
	}
	cp, last, err := openFrom(chain{v, 0}, read(os.Args[2]))
	if err != nil {
		fmt.Printf("checkpoint %s: refused: %v\n", os.Args[2], err)
		os.Exit(1)
	}
	fmt.Printf("checkpoint %s: note.Open verified %s size %d through %d certificates\n",
		os.Args[2], cp.origin, cp.size, cp.epoch)
	for _, path := range os.Args[3:] {
		text := read(path)
		if strings.HasPrefix(text, "scout-audit consistency v1\n") {
			what, err := consistent(cp, last, text)
			if err != nil {
				fmt.Printf("consistency proof %s: refused: %v\n", path, err)
				os.Exit(1)
			}
			fmt.Printf("consistency proof %s: tlog.CheckTree: %s\n", path, what)
			continue
		}
		what, err := prove(key, text)
		if err != nil {
			fmt.Printf("proof %s: refused: %v\n", path, err)
			os.Exit(1)
		}
		fmt.Printf("proof %s: tlog.CheckRecord: %s\n", path, what)
	}
}
