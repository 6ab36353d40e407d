package testutil

import (
	"fmt"
	"regexp"
	"strings"
)

// CheckMermaid checks the text of a ```mermaid block against the diagram
// forms the docs use, line by line: flowchart (graph), sequenceDiagram and
// stateDiagram-v2. It is no full Mermaid parser: it accepts the statements
// of those forms and refuses what Mermaid's own parsers refuse in them and
// what a writer gets wrong most often (an unknown diagram type, an unknown
// statement, unbalanced blocks, a flowchart label with a bare parenthesis or
// bracket, a sequence message with a semicolon, which ends a statement).
func CheckMermaid(text string) error {
	lines := strings.Split(text, "\n")
	first := -1
	for i, l := range lines {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "%%") {
			first = i
			break
		}
	}
	if first < 0 {
		return fmt.Errorf("empty diagram")
	}
	header := strings.Fields(lines[first])
	var check func(string) (int, error)
	switch header[0] {
	case "flowchart", "graph":
		if len(header) != 2 || !directions[header[1]] {
			return fmt.Errorf("line %d: %q wants a direction (LR, RL, TD, TB, BT)", first+1, lines[first])
		}
		check = flowchartLine
	case "sequenceDiagram":
		check = sequenceLine
	case "stateDiagram-v2":
		check = stateLine
	default:
		return fmt.Errorf("line %d: diagram type %q is not one the docs use (flowchart, sequenceDiagram, stateDiagram-v2)", first+1, header[0])
	}
	depth := 0
	for i := first + 1; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if t == "" || strings.HasPrefix(t, "%%") {
			continue
		}
		d, err := check(t)
		if err != nil {
			return fmt.Errorf("line %d: %q: %w", i+1, t, err)
		}
		if depth += d; depth < 0 {
			return fmt.Errorf("line %d: %q closes a block that is not open", i+1, t)
		}
	}
	if depth != 0 {
		return fmt.Errorf("%d block(s) not closed with end", depth)
	}
	return nil
}

var directions = map[string]bool{"LR": true, "RL": true, "TD": true, "TB": true, "BT": true}

var (
	mermaidID = `[A-Za-z][A-Za-z0-9_]*`
	// A node: an id, optionally with a shape and its label.
	flowNode = regexp.MustCompile(`^(` + mermaidID + `)(\[\(.*?\)\]|\(\(.*?\)\)|\[\[.*?\]\]|\[.*?\]|\(.*?\)|\{.*?\}|>.*?\])?`)
	// A link, optionally with a |label|.
	flowLink     = regexp.MustCompile(`^\s*(-->|---|-\.->|==>|--[ox]|<-->)\s*(\|[^|]*\|)?\s*`)
	flowKeywords = regexp.MustCompile(`^(classDef|class|style|linkStyle|click|direction)\s`)
)

// flowchartLine checks one statement of a flowchart: a chain of nodes and
// links, subgraph ... end, or a styling statement.
func flowchartLine(t string) (int, error) {
	switch {
	case t == "end":
		return -1, nil
	case strings.HasPrefix(t, "subgraph "):
		rest := strings.TrimSpace(strings.TrimPrefix(t, "subgraph "))
		if m := flowNode.FindString(rest); m == "" || m != rest {
			return 0, fmt.Errorf("subgraph wants an id and an optional [label]")
		}
		return 1, checkLabel(rest)
	case flowKeywords.MatchString(t):
		return 0, nil
	}
	rest := strings.TrimSuffix(t, ";")
	for {
		m := flowNode.FindString(rest)
		if m == "" {
			return 0, fmt.Errorf("a node id is expected at %q", rest)
		}
		if err := checkLabel(m); err != nil {
			return 0, err
		}
		rest = rest[len(m):]
		if rest == "" {
			return 0, nil
		}
		l := flowLink.FindString(rest)
		if l == "" {
			return 0, fmt.Errorf("a link (-->, ---, -.->, ==>) is expected at %q", rest)
		}
		rest = rest[len(l):]
	}
}

// checkLabel refuses a node label that Mermaid's flowchart parser reads as
// shape syntax: a parenthesis, bracket or brace inside an unquoted label.
func checkLabel(node string) error {
	i := strings.IndexAny(node, "[({>")
	if i < 0 {
		return nil
	}
	inner := strings.TrimLeft(node[i:], "[({>")
	inner = strings.TrimRight(inner, "])}")
	if strings.HasPrefix(inner, `"`) && strings.HasSuffix(inner, `"`) && len(inner) >= 2 {
		if strings.Contains(inner[1:len(inner)-1], `"`) {
			return fmt.Errorf("a quoted label holds a quote")
		}
		return nil
	}
	if strings.ContainsAny(inner, `[](){}"|`) {
		return fmt.Errorf("label %q holds a bracket, parenthesis, brace, quote or bar: put the label in double quotes", inner)
	}
	return nil
}

var (
	seqParticipant = regexp.MustCompile(`^(participant|actor)\s+` + mermaidID + `(\s+as\s+\S.*)?$`)
	seqMessage     = regexp.MustCompile(`^` + mermaidID + `\s*(-->>|->>|-->|->|--x|-x|--\)|-\))\s*[+-]?` + mermaidID + `\s*:\s*\S`)
	seqNote        = regexp.MustCompile(`^Note\s+(left of|right of|over)\s+` + mermaidID + `(\s*,\s*` + mermaidID + `)?\s*:\s*\S`)
	seqOpen        = regexp.MustCompile(`^(loop|alt|opt|par|critical|break|rect)(\s|$)`)
	seqMiddle      = regexp.MustCompile(`^(else|and|option)(\s|$)`)
)

// sequenceLine checks one statement of a sequence diagram.
func sequenceLine(t string) (int, error) {
	switch {
	case t == "end":
		return -1, nil
	case t == "autonumber", seqParticipant.MatchString(t), seqMiddle.MatchString(t):
		return 0, nil
	case seqOpen.MatchString(t):
		return 1, nil
	case seqMessage.MatchString(t), seqNote.MatchString(t):
		if strings.Contains(t, ";") {
			return 0, fmt.Errorf("a semicolon ends a sequence statement: the text after it is read as another statement")
		}
		return 0, nil
	}
	return 0, fmt.Errorf("not a participant, message (A->>B: text), Note, or loop/alt/opt/par/rect ... end")
}

var (
	stateRef        = `(\[\*\]|` + mermaidID + `)`
	stateTransition = regexp.MustCompile(`^` + stateRef + `\s*-->\s*` + stateRef + `(\s*:\s*[^:]+)?$`)
	stateDecl       = regexp.MustCompile(`^state\s+("[^"]+"\s+as\s+)?` + mermaidID + `(\s*<<(choice|fork|join)>>)?(\s*\{)?$`)
	stateDesc       = regexp.MustCompile(`^` + mermaidID + `\s*:\s*\S`)
	stateNote       = regexp.MustCompile(`^note\s+(left|right)\s+of\s+` + mermaidID + `\s*:\s*\S`)
)

// stateLine checks one statement of a state diagram (v2).
func stateLine(t string) (int, error) {
	switch {
	case t == "}":
		return -1, nil
	case stateDecl.MatchString(t):
		if strings.HasSuffix(t, "{") {
			return 1, nil
		}
		return 0, nil
	case strings.HasPrefix(t, "direction "), stateTransition.MatchString(t), stateDesc.MatchString(t), stateNote.MatchString(t):
		return 0, nil
	}
	return 0, fmt.Errorf("not a transition (A --> B : label), state declaration, description or one-line note")
}
