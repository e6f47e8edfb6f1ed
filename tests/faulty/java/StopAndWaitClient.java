// TCP client, the seed's TCPClient grown a loop: for each input line, writeBytes(line + '\n') and then
// readLine() of its reply, one at a time (stop-and-wait), printing "FROM SERVER: " + reply. An unterminated last
// line is sent with an LF added. Defect: C1 (pipelined, not stop-and-wait; half-close for the last line).
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;

public class StopAndWaitClient {
    public static void main(String[] args) throws Exception {
        Socket s = new Socket(args[0], Integer.parseInt(args[1]));
        s.setSoTimeout(10_000);
        BufferedReader user = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.ISO_8859_1));
        DataOutputStream toServer = new DataOutputStream(s.getOutputStream());
        BufferedReader fromServer = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false, "ISO-8859-1");
        String line;
        while ((line = user.readLine()) != null) {
            toServer.writeBytes(line + '\n');
            String reply = fromServer.readLine();
            if (reply == null) {
                System.err.println("tcp-client: the server closed early");
                System.exit(1);
            }
            out.println("FROM SERVER: " + reply);
        }
        out.flush();
        s.close();
    }
}
