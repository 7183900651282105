/**
 * Release version — synced from repo root VERSION (`npm run sync-version`).
 */
export const SDK_VERSION = "0.1.0";
