package report

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/rdsgate/rdsgate/posture"
)

// SARIF 2.1.0 (OASIS), the subset rdsgate writes.

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations,omitempty"`
	Results     []sarifResult     `json:"results"`
}

// sarifInvocation carries why an audit is incomplete, as notifications.
type sarifInvocation struct {
	ExecutionSuccessful        bool                `json:"executionSuccessful"`
	ToolExecutionNotifications []sarifNotification `json:"toolExecutionNotifications"`
}

type sarifNotification struct {
	Level   string    `json:"level"`
	Message sarifText `json:"message"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Kind                string            `json:"kind"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifLocation struct {
	// PhysicalLocation is set for a database of a Terraform plan: code
	// scanning shows only results with a file and a line.
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           sarifRegion   `json:"region"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s posture.Severity) string {
	switch s {
	case posture.SeverityCritical, posture.SeverityHigh:
		return "error"
	case posture.SeverityMedium:
		return "warning"
	}
	return "note"
}

// securitySeverity is GitHub code scanning's numeric severity.
func securitySeverity(s posture.Severity) string {
	switch s {
	case posture.SeverityCritical:
		return "9.5"
	case posture.SeverityHigh:
		return "8.0"
	case posture.SeverityMedium:
		return "5.5"
	}
	return "3.0"
}

// SARIF writes a SARIF 2.1.0 log: one rule per check, one result per
// failed check (kind "fail") and per unknown one (kind "review", level
// "none"). Databases are logical locations named by ARN; a database of a
// Terraform plan is named by its resource address and located in the file
// that holds it.
func SARIF(w io.Writer, rep *posture.Report, opts Options) error {
	run := sarifRun{Tool: sarifTool{Driver: sarifDriver{
		Name: "rdsgate", Version: opts.ToolVersion, InformationURI: "https://github.com/rdsgate/rdsgate",
		Rules: []sarifRule{},
	}}, Results: []sarifResult{}}
	index := map[string]int{}
	for i, c := range rep.Checks {
		index[c.ID] = i
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{
			ID: c.ID, Name: c.Title,
			ShortDescription:     sarifText{Text: c.Title},
			FullDescription:      sarifText{Text: c.Rationale},
			Help:                 sarifText{Text: c.Remediation.Text + "\n\n" + c.Remediation.CLI, Markdown: c.Remediation.Text + "\n\n```sh\n" + c.Remediation.CLI + "\n```\n\n```hcl\n" + c.Remediation.Terraform + "\n```"},
			DefaultConfiguration: sarifConfig{Level: sarifLevel(c.Severity)},
			Properties:           map[string]any{"security-severity": securitySeverity(c.Severity), "severity": string(c.Severity), "catalog": c.Catalog, "tags": []string{"security", "aws", "rds"}},
		})
	}
	if len(rep.Incomplete) > 0 {
		inv := sarifInvocation{ExecutionSuccessful: true}
		for _, why := range rep.Incomplete {
			inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, sarifNotification{Level: "error", Message: sarifText{Text: "incomplete: " + why}})
		}
		run.Invocations = []sarifInvocation{inv}
	}
	log := sarifLog{Schema: "https://json.schemastore.org/sarif-2.1.0.json", Version: "2.1.0", Runs: []sarifRun{run}}
	// The results are marshalled one at a time, in place of the empty list.
	err := writeSpliced(w, &log, "      ", "results", func(emit func(any) error) error {
		for _, db := range rep.Databases {
			loc, ident := sarifDBLocation(db)
			name := db.ID
			if db.Account != "" {
				// Two accounts may have databases of one name.
				name = db.ID + " in " + where(db.Account, db.Region)
			}
			for _, f := range db.Results {
				r := sarifResult{
					RuleID: f.CheckID, RuleIndex: index[f.CheckID], Message: sarifText{Text: name + ": " + f.Detail},
					Locations: []sarifLocation{loc}, PartialFingerprints: map[string]string{"rdsgate/v1": f.CheckID + "|" + ident},
				}
				switch f.Status {
				case posture.StatusFail:
					r.Kind, r.Level = "fail", sarifLevel(f.Severity)
				case posture.StatusUnknown:
					r.Kind, r.Level = "review", "none"
					r.Properties = map[string]any{"missingActions": f.MissingActions}
				default:
					continue
				}
				if db.Account != "" {
					if r.Properties == nil {
						r.Properties = map[string]any{}
					}
					r.Properties["account"], r.Properties["region"] = db.Account, db.Region
				}
				if err := emit(&r); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("report: sarif: %w", err)
	}
	return nil
}

// sarifDBLocation is where a database's results point, and the name that
// identifies it across runs (its ARN, or its address in a plan, whose
// databases have no ARN yet).
func sarifDBLocation(db posture.DBReport) (sarifLocation, string) {
	if db.Address == "" {
		return sarifLocation{LogicalLocations: []sarifLogical{{Name: db.ID, FullyQualifiedName: db.ARN, Kind: "resource"}}}, db.ARN
	}
	loc := sarifLocation{LogicalLocations: []sarifLogical{{Name: db.Address, FullyQualifiedName: db.Address, Kind: "resource"}}}
	if db.File != "" {
		loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifact{URI: filepath.ToSlash(db.File)}, Region: sarifRegion{StartLine: max(db.Line, 1)}}
	}
	return loc, db.Address
}
