import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// React's development build, where StrictMode mounts, unmounts and mounts again each component
// (what the test is about); a production build skips that.
export default defineConfig({
  plugins: [react()],
  define: { 'process.env.NODE_ENV': JSON.stringify('development') },
});
