// Package azurefunctions deploys functions to Azure Functions.
package azurefunctions
