package statsig

import (
	"encoding/json"
)

// specIndex is what the provider knows of the Statsig project's rules
// beyond what the SDK's public API says: which dynamic configs are
// experiments, and which of their rules are experiment groups. It is built
// from the config specs the SDK downloads (Options.RulesUpdatedCallback) or
// is bootstrapped with (Options.BootstrapValues).
type specIndex struct {
	configs map[string]configInfo
	gates   map[string]bool
}

type configInfo struct {
	experiment  bool
	groupRules  map[string]bool // rule id -> is an experiment group
	knownConfig bool
}

func parseSpecs(raw string) (*specIndex, error) {
	var specs struct {
		FeatureGates []struct {
			Name string `json:"name"`
		} `json:"feature_gates"`
		DynamicConfigs []struct {
			Name   string `json:"name"`
			Entity string `json:"entity"`
			Rules  []struct {
				ID                string `json:"id"`
				IsExperimentGroup *bool  `json:"isExperimentGroup"`
			} `json:"rules"`
		} `json:"dynamic_configs"`
	}
	if err := json.Unmarshal([]byte(raw), &specs); err != nil {
		return nil, err
	}
	idx := &specIndex{configs: make(map[string]configInfo, len(specs.DynamicConfigs)), gates: make(map[string]bool, len(specs.FeatureGates))}
	for _, g := range specs.FeatureGates {
		idx.gates[g.Name] = true
	}
	for _, c := range specs.DynamicConfigs {
		info := configInfo{experiment: c.Entity == "experiment", knownConfig: true}
		for _, r := range c.Rules {
			if r.IsExperimentGroup != nil && *r.IsExperimentGroup {
				if info.groupRules == nil {
					info.groupRules = make(map[string]bool)
				}
				info.groupRules[r.ID] = true
			}
		}
		idx.configs[c.Name] = info
	}
	return idx, nil
}

func (idx *specIndex) config(name string) configInfo {
	if idx == nil {
		return configInfo{}
	}
	return idx.configs[name]
}

func (idx *specIndex) isGate(name string) bool { return idx != nil && idx.gates[name] }
