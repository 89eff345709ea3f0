package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// input reads what a command asks the user: from the terminal, without
// echo for secrets, or line by line from standard input for scripts.
type input struct {
	r      *bufio.Reader
	prompt io.Writer // where questions go: stderr, so stdout stays clean
	tty    int       // file descriptor of a terminal on stdin, or -1
}

func newInput(cmd *cobra.Command) *input {
	in := &input{r: bufio.NewReader(cmd.InOrStdin()), prompt: cmd.ErrOrStderr(), tty: -1}
	if f, ok := cmd.InOrStdin().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		in.tty = int(f.Fd())
	}
	return in
}

// secret returns the first line of file, or asks for it.
func (in *input) secret(file, question string) (string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		if line = strings.TrimRight(line, "\r"); line == "" {
			return "", fmt.Errorf("%s is empty", file)
		}
		return line, nil
	}
	if in.tty >= 0 {
		fmt.Fprint(in.prompt, question)
		b, err := term.ReadPassword(in.tty)
		fmt.Fprintln(in.prompt)
		if err != nil {
			return "", err
		}
		if len(b) == 0 {
			return "", errors.New("no password given")
		}
		return string(b), nil
	}
	s, err := in.line("")
	if err != nil {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	return s, nil
}

// line reads one line, showing question first on a terminal.
func (in *input) line(question string) (string, error) {
	if in.tty >= 0 && question != "" {
		fmt.Fprint(in.prompt, question)
	}
	s, err := in.r.ReadString('\n')
	if err != nil && (s == "" || !errors.Is(err, io.EOF)) {
		if errors.Is(err, io.EOF) {
			return "", errors.New("standard input ended")
		}
		return "", err
	}
	s = strings.TrimRight(s, "\r\n")
	if s == "" {
		return "", errors.New("empty answer")
	}
	return s, nil
}

// prompter answers the daemon's questions from this input.
func (in *input) prompter() func(ctx context.Context, name, text string) (string, error) {
	return func(_ context.Context, _, text string) (string, error) {
		return in.line(text)
	}
}
