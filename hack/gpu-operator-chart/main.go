// Command gpu-operator-chart renders run.ai's fake-gpu-operator Helm chart with Helm's own
// template engine (what `helm template` runs) and writes out what hack/gpu-operator.sh needs
// to run the operator's commands as host processes, configured as the chart configures their
// pods:
//
//	OUT/topology.yaml      the chart's topology ConfigMap (templates/topology-cm.yml), with the
//	                       release namespace set as `helm install -n` would set it
//	OUT/<command>.env      NAME=value, one line per environment variable of the container the
//	                       chart runs <command> in, in the chart's order
//	OUT/rendered.yaml      every manifest the chart rendered, for reference
//
// Usage:
//
//	gpu-operator-chart -chart DIR -values FILE -namespace NS -out DIR COMMAND=DEPLOYMENT...
//
// Each COMMAND=DEPLOYMENT names a command of the operator and the chart's Deployment that runs
// it (status-exporter-kwok=nvidia-dcgm-exporter-kwok). The chart's own values.yaml is the base
// and FILE overrides it, as `helm template -f FILE` does. RBAC, Services and images are not
// used: the processes run with the cluster's admin kubeconfig on this host.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const releaseName = "fake-gpu-operator"

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "gpu-operator-chart: error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	chartDir := flag.String("chart", "", "the chart's folder (deploy/fake-gpu-operator of the operator's source)")
	valuesFile := flag.String("values", "", "values overriding the chart's values.yaml")
	namespace := flag.String("namespace", "gpu-operator", "the release namespace")
	out := flag.String("out", "", "folder to write topology.yaml, <command>.env and rendered.yaml into")
	flag.Parse()
	if *chartDir == "" || *valuesFile == "" || *out == "" || flag.NArg() == 0 {
		return errors.New("usage: gpu-operator-chart -chart DIR -values FILE -namespace NS -out DIR COMMAND=DEPLOYMENT...")
	}

	chart, err := loader.Load(*chartDir)
	if err != nil {
		return fmt.Errorf("loading the chart %s: %w", *chartDir, err)
	}
	overrides, err := chartutil.ReadValuesFile(*valuesFile)
	if err != nil {
		return fmt.Errorf("reading %s: %w", *valuesFile, err)
	}
	options := chartutil.ReleaseOptions{Name: releaseName, Namespace: *namespace, Revision: 1, IsInstall: true}
	values, err := chartutil.ToRenderValues(chart, overrides, options, chartutil.DefaultCapabilities)
	if err != nil {
		return fmt.Errorf("values: %w", err)
	}
	rendered, err := engine.Render(chart, values)
	if err != nil {
		return fmt.Errorf("rendering the chart: %w", err)
	}

	// Template files in name order, as helm template prints them.
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	var all bytes.Buffer
	deployments := map[string]appsv1.Deployment{}
	var topology *corev1.ConfigMap
	for _, name := range names {
		if strings.HasPrefix(filepath.Base(name), "_") || strings.TrimSpace(rendered[name]) == "" {
			continue
		}
		for _, doc := range strings.Split(rendered[name], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			fmt.Fprintf(&all, "---\n# Source: %s\n%s\n", name, strings.TrimPrefix(doc, "\n"))
			var head struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			switch {
			case head.Kind == "Deployment":
				var d appsv1.Deployment
				if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				deployments[d.Name] = d
			case head.Kind == "ConfigMap" && head.Metadata.Name == "topology":
				topology = &corev1.ConfigMap{}
				if err := yaml.Unmarshal([]byte(doc), topology); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
		}
	}

	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "rendered.yaml"), all.Bytes(), 0o644); err != nil {
		return err
	}
	if topology == nil {
		return errors.New("the chart rendered no topology ConfigMap (is topologyConfigMap.enabled false?)")
	}
	topology.Namespace = *namespace
	text, err := yaml.Marshal(topology)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "topology.yaml"), text, 0o644); err != nil {
		return err
	}

	for _, pair := range flag.Args() {
		command, deployment, ok := strings.Cut(pair, "=")
		if !ok || command == "" || deployment == "" {
			return fmt.Errorf("%q is not COMMAND=DEPLOYMENT", pair)
		}
		d, found := deployments[deployment]
		if !found {
			return fmt.Errorf("the chart rendered no Deployment %q for %s (is it disabled in the values?)", deployment, command)
		}
		containers := d.Spec.Template.Spec.Containers
		if len(containers) != 1 {
			return fmt.Errorf("Deployment %s has %d containers; one was expected", deployment, len(containers))
		}
		var env strings.Builder
		for _, v := range containers[0].Env {
			if v.ValueFrom != nil {
				return fmt.Errorf("Deployment %s: env %s comes from %v, which a host process cannot read", deployment, v.Name, v.ValueFrom)
			}
			if strings.ContainsAny(v.Value, "\n\x00") {
				return fmt.Errorf("Deployment %s: env %s holds a newline", deployment, v.Name)
			}
			fmt.Fprintf(&env, "%s=%s\n", v.Name, v.Value)
		}
		if err := os.WriteFile(filepath.Join(*out, command+".env"), []byte(env.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
