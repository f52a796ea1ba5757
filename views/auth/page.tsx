// The frame of the sign-in and consent pages: minimal, server-rendered, no scripts.
import type { Children } from "@kitajs/html";

export function AuthPage(props: { title: string; children: Children }): string {
	return (
		"<!DOCTYPE html>" +
		(
			<html lang="en">
				<head>
					<meta charset="utf-8" />
					<meta name="viewport" content="width=device-width, initial-scale=1" />
					<title safe>{props.title} · PistonProtection</title>
					<style>
						{
							"body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;line-height:1.5}label{display:block;margin-top:1rem}input{width:100%;padding:.5rem;box-sizing:border-box}button{margin-top:1.5rem;padding:.5rem 1rem}.error{color:#a00;border:1px solid #a00;padding:.5rem}"
						}
					</style>
				</head>
				<body>
					<main>{props.children}</main>
				</body>
			</html>
		)
	);
}
