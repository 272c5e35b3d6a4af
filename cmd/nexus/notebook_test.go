package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const notebookPath = "../../analysis/exploratory_analysis.ipynb"

// notebook is the part of the Jupyter format (nbformat 4) the tests read.
type notebook struct {
	NBFormat int `json:"nbformat"`
	Metadata struct {
		Kernelspec struct {
			Name string `json:"name"`
		} `json:"kernelspec"`
	} `json:"metadata"`
	Cells []struct {
		CellType       string            `json:"cell_type"`
		Source         multiline         `json:"source"`
		ExecutionCount *int              `json:"execution_count"`
		Outputs        []json.RawMessage `json:"outputs"`
	} `json:"cells"`
}

// multiline is a notebook string: one string or a list of lines.
type multiline string

func (m *multiline) UnmarshalJSON(b []byte) error {
	var lines []string
	if err := json.Unmarshal(b, &lines); err != nil {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		lines = []string{s}
	}
	*m = multiline(strings.Join(lines, ""))
	return nil
}

// output is one output of an executed code cell.
type output struct {
	OutputType string               `json:"output_type"`
	Name       string               `json:"name"`
	Text       multiline            `json:"text"`
	Data       map[string]multiline `json:"data"`
	EName      string               `json:"ename"`
	EValue     string               `json:"evalue"`
}

func readNotebook(t *testing.T, path string) notebook {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb notebook
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return nb
}

// figureInText finds what the data decides written into prose: a percentage,
// an amount of money or a decimal number.
var figureInText = regexp.MustCompile(`\d\s*%|R\$\s*\d|\d[.,]\d`)

// TestNotebookCommittedClean: the notebook is committed without outputs, for
// the Debian kernel CI runs it with, reads the lake through nexus (the binary
// and the lake given by NEXUS_BIN and NEXUS_LAKE), and its prose writes no
// figure the data decides (those are computed in cells).
func TestNotebookCommittedClean(t *testing.T) {
	nb := readNotebook(t, notebookPath)
	if nb.NBFormat != 4 || nb.Metadata.Kernelspec.Name != "python3" {
		t.Errorf("nbformat %d, kernel %q; want 4 and python3", nb.NBFormat, nb.Metadata.Kernelspec.Name)
	}
	var code strings.Builder
	for i, c := range nb.Cells {
		switch c.CellType {
		case "code":
			if len(c.Outputs) > 0 || c.ExecutionCount != nil {
				t.Errorf("cell %d is committed with outputs (clear them before committing)", i)
			}
			code.WriteString(string(c.Source))
		case "markdown":
			if m := figureInText.FindString(string(c.Source)); m != "" {
				t.Errorf("markdown cell %d writes the figure %q: compute it in a cell", i, m)
			}
		}
	}
	for _, want := range []string{`"NEXUS_BIN"`, `"NEXUS_LAKE"`, `"query", "--format", "csv"`, "plt.show()"} {
		if !strings.Contains(code.String(), want) {
			t.Errorf("the notebook's code lacks %s", want)
		}
	}
}

// TestNotebookExecutes runs the notebook with Jupyter (Debian's
// jupyter-nbconvert, python3-ipykernel, python3-pandas, python3-matplotlib)
// against a generated lake: every cell runs without error, every chart is
// drawn, and its cross-check with `nexus analyze` holds. Skipped without
// Jupyter, unless NEXUS_REQUIRE_TOOLS is set (as in CI).
func TestNotebookExecutes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a lake and runs Jupyter")
	}
	jupyter, err := exec.LookPath("jupyter")
	if err == nil {
		err = exec.Command(jupyter, "nbconvert", "--version").Run()
	}
	if err != nil {
		const install = "apt-get install --no-install-recommends jupyter-nbconvert python3-ipykernel python3-pandas python3-matplotlib"
		if os.Getenv("NEXUS_REQUIRE_TOOLS") != "" {
			t.Fatalf("jupyter nbconvert is required (NEXUS_REQUIRE_TOOLS is set): %v (%s)", err, install)
		}
		t.Skipf("no jupyter nbconvert (%s)", install)
	}
	dir := t.TempDir()
	nexus(t, dir, false, "generate", "--out", "data", "--scale", "0.05", "--seed", "1")
	nexus(t, dir, false, "--lake", "lake", "run", "--source", "data", "--no-reports")

	out := filepath.Join(dir, "out")
	cmd := exec.Command(jupyter, "nbconvert", "--to", "notebook", "--execute", "--output-dir", out,
		"--ExecutePreprocessor.kernel_name=python3", "--ExecutePreprocessor.timeout=600", notebookPath)
	cmd.Env = append(os.Environ(), "NEXUS_BIN="+nexusBin, "NEXUS_LAKE="+filepath.Join(dir, "lake"),
		"PYDEVD_DISABLE_FILE_VALIDATION=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("jupyter nbconvert --execute: %v\n%s", err, stderr.String())
	}

	nb := readNotebook(t, filepath.Join(out, filepath.Base(notebookPath)))
	var texts []string
	charts := 0
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		if c.ExecutionCount == nil {
			t.Errorf("cell %d did not run", i)
		}
		images := 0
		for _, raw := range c.Outputs {
			var o output
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatal(err)
			}
			switch {
			case o.OutputType == "error":
				t.Errorf("cell %d: %s: %s", i, o.EName, o.EValue)
			case o.OutputType == "stream" && o.Name == "stderr":
				t.Errorf("cell %d wrote to stderr (a warning to fix): %s", i, o.Text)
			}
			if _, ok := o.Data["image/png"]; ok {
				images++
			}
			if md, ok := o.Data["text/markdown"]; ok {
				texts = append(texts, string(md))
			}
		}
		if shows := strings.Count(string(c.Source), "plt.show()"); images < shows {
			t.Errorf("cell %d drew %d charts, its code shows %d", i, images, shows)
		}
		charts += images
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{"figures agree with `nexus analyze`", "**Black Friday.** Black Friday ", "**Delivery and reviews.** Late orders"} {
		if !strings.Contains(all, want) {
			t.Errorf("the executed notebook does not say %q; its text:\n%s", want, all)
		}
	}
	if findings := strings.Count(all, "**Finding.**"); charts < 8 || findings < 8 {
		t.Errorf("%d charts and %d findings, want 8 of each", charts, findings)
	}
}
