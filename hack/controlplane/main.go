// Command evident-kube is one binary for the whole Kubernetes side of the local
// control plane: kube-apiserver, kube-scheduler, kube-controller-manager and
// kubectl. Linking them together costs one link instead of four; the build
// script puts symlinks named after each component next to it, and the binary
// dispatches on the name it was started as (argv[0]), like busybox.
//
// `evident-kube <component> [flags]` works too, for when no symlink is at hand.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	_ "time/tzdata" // CronJob time zones (kube-apiserver, kube-controller-manager)

	_ "k8s.io/client-go/plugin/pkg/client/auth" // kubectl's client auth plugins
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// components maps a component name to a function that runs it with os.Args
// already shaped as that component expects, and returns its exit code.
var components = map[string]func() int{
	"kube-apiserver": func() int { return cli.Run(apiserver.NewAPIServerCommand()) },
	"kube-scheduler": func() int { return cli.Run(scheduler.NewSchedulerCommand()) },
	"kube-controller-manager": func() int {
		return cli.Run(controllermanager.NewControllerManagerCommand())
	},
	"kubectl": runKubectl,
}

// runKubectl mirrors k8s.io/kubernetes/cmd/kubectl: verbosity is parsed before
// the command is built so that building it (plugins, kuberc) can log.
func runKubectl() int {
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) //nolint:errcheck
	command := kubectlcmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		kubectlutil.CheckErr(err) // prints the error and exits non-zero
	}
	return 0
}

func main() {
	name := filepath.Base(os.Args[0])
	run, ok := components[name]
	if !ok && len(os.Args) > 1 {
		// evident-kube <component> [flags]: drop our own name so the
		// component sees the argv it would see when started directly.
		if run, ok = components[os.Args[1]]; ok {
			os.Args = os.Args[1:]
		}
	}
	if !ok {
		fmt.Fprintf(os.Stderr, "usage: %s <component> [flags], or start it through a symlink named after the component\ncomponents: %v\n", name, names())
		os.Exit(2)
	}
	// cobra reads os.Args[1:] only, so argv[0] needs no rewriting.
	os.Exit(run())
}

func names() []string {
	out := make([]string, 0, len(components))
	for n := range components {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
