// app.js is served as text (imported `with { type: "text" }`), never executed on the server.
declare const text: string;
export default text;
