// Set at build time by scripts/build.ts (--define); source runs report the package version.
declare const PP_BUILD_VERSION: string | undefined;

export const VERSION: string = typeof PP_BUILD_VERSION === "string" ? PP_BUILD_VERSION : "0.1.0-dev";
