// The package bundled into the server build, not left to node_modules at run time.
export default { ssr: { noExternal: ['checkout-guard'] } };
