// A Go SSH client (golang.org/x/crypto/ssh, as many bots are written) against the
// SSH door under test on 127.0.0.1: exec with output and exit status, then a pty
// shell, with Go's default algorithms or the ones named. Prints one JSON object.
//
// Usage: goclient PORT [KEX CIPHER HOSTKEY [MAC]]
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

func main() {
	addr := "127.0.0.1:" + os.Args[1]
	config := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.Password("xc3511")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		ClientVersion:   "SSH-2.0-Go",
		Timeout:         20 * time.Second,
	}
	if len(os.Args) > 4 {
		config.KeyExchanges = []string{os.Args[2]}
		config.Ciphers = []string{os.Args[3]}
		config.HostKeyAlgorithms = []string{os.Args[4]}
	}
	if len(os.Args) > 5 {
		config.MACs = []string{os.Args[5]}
	}
	out := map[string]interface{}{}
	client, err := ssh.Dial("tcp", addr, config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out["server_version"] = string(client.ServerVersion())
	session, err := client.NewSession()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var stdout bytes.Buffer
	session.Stdout = &stdout
	err = session.Run("echo from-go; exit 9")
	out["exec_stdout"] = stdout.String()
	if e, ok := err.(*ssh.ExitError); ok {
		out["exec_status"] = e.ExitStatus()
	} else if err == nil {
		out["exec_status"] = 0
	} else {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shell, _ := client.NewSession()
	if err := shell.RequestPty("vt100", 24, 80, ssh.TerminalModes{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	in, _ := shell.StdinPipe()
	var screen bytes.Buffer
	shell.Stdout = &screen
	if err := shell.Shell(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	in.Write([]byte("echo $((5*8+2))\r"))
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(screen.String(), "42\r\n") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	in.Write([]byte("exit\r"))
	err = shell.Wait()
	out["shell"] = screen.String()
	out["shell_status"] = 0
	if e, ok := err.(*ssh.ExitError); ok {
		out["shell_status"] = e.ExitStatus()
	}
	client.Close()
	json.NewEncoder(os.Stdout).Encode(out)
}
